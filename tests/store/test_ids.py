"""Public ids: the Attendee shape, every character of the alphabet equally likely, no repeats."""

from __future__ import annotations

import string
from collections import Counter

from calsync.ids import ID_LENGTH, looks_like_id, new_id, new_ids


def test_ids_have_the_prefix_and_sixteen_alphanumerics() -> None:
    for _ in range(1000):
        value = new_id("evt_")
        assert looks_like_id("evt_", value) and len(value) == 4 + ID_LENGTH


def test_ids_do_not_repeat() -> None:
    assert len({new_id("cal_") for _ in range(20_000)}) == 20_000


def test_every_character_is_about_equally_likely() -> None:
    counts = Counter("".join(new_id("") for _ in range(20_000)))
    alphabet = string.ascii_letters + string.digits
    assert set(counts) == set(alphabet)
    expected = 20_000 * ID_LENGTH / len(alphabet)  # 5,161 per character
    # `byte % 62` without dropping bytes 248-255 gives 8 characters 5/256 instead of 4/256: ~6,250 each, 15
    # standard deviations out. Five standard deviations keep a fair mapping from ever failing in practice.
    assert all(abs(count - expected) < 5 * expected**0.5 for count in counts.values()), counts


def test_ids_drawn_together_are_ids_as_new_id_makes_them() -> None:
    drawn = new_ids("evt_", 20_000) + new_ids("evt_", 1)
    assert new_ids("evt_", 0) == []
    assert all(looks_like_id("evt_", value) for value in drawn) and len(set(drawn)) == len(drawn)
    counts = Counter("".join(value[4:] for value in drawn))
    expected = len(drawn) * ID_LENGTH / 62
    assert set(counts) == set(string.ascii_letters + string.digits)
    assert all(abs(count - expected) < 5 * expected**0.5 for count in counts.values()), counts
