"""A platform payload keeps the encoding its size bound made, and that encoding is always its JSON."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from calsync import json_codec
from calsync.providers.normalize import MAX_RAW_BYTES, MAX_RAW_TEXT_CHARS, TRUNCATED_KEY, bound_raw

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=10), _JSON, max_size=8))
def test_the_carried_encoding_is_the_payloads_json(item: dict[str, Any]) -> None:
    raw = bound_raw({"id": "e1", **item}, (("description",),))
    assert isinstance(raw, json_codec.EncodedObject) and raw.encoded is not None
    assert json_codec.dumps(raw) == orjson.dumps(raw) == orjson.dumps({"id": "e1", **item})
    assert json_codec.dumps_text(raw) == orjson.dumps(raw).decode()
    for kept in (copy.copy(raw), copy.deepcopy(raw), pickle.loads(pickle.dumps(raw))):
        assert kept == raw and json_codec.dumps(kept) == orjson.dumps(raw)


def test_a_change_to_its_keys_drops_the_encoding() -> None:
    raw = bound_raw({"id": "e1", "summary": "s", "extra": [1]}, ())
    changes = [
        lambda r: r.__setitem__("summary", "t"),
        lambda r: r.__delitem__("extra"),
        lambda r: r.update(more=1),
        lambda r: r.pop("extra"),
        lambda r: r.popitem(),
        lambda r: r.setdefault("new", 2),
        lambda r: r.__ior__({"x": 3}),
        lambda r: r.clear(),
    ]
    for change in changes:
        changed = copy.copy(raw)
        change(changed)
        assert changed.encoded is None and json_codec.dumps(changed) == orjson.dumps(dict(changed))
        assert json_codec.dumps_text(changed) == orjson.dumps(dict(changed)).decode()


def test_a_bounded_payload_is_encoded_as_it_is() -> None:
    long_text = "x" * (MAX_RAW_TEXT_CHARS + 10)
    huge = {"id": "e1", "description": long_text, **{f"k{i}": "y" * 4000 for i in range(12)}}
    raw = bound_raw(huge, (("description",),))
    encoded = json_codec.dumps(raw)
    assert encoded == orjson.dumps(dict(raw)) and len(encoded) <= MAX_RAW_BYTES
    assert TRUNCATED_KEY in raw and huge["description"] == long_text
