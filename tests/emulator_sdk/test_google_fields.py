"""The `fields` grammar (calsync_emulator/fields.py) and the schema it validates against, which must stay
the one derived from the discovery document google-api-python-client ships."""

from __future__ import annotations

import pytest

from calsync_emulator import fields, google_schema
from tests.emulator_sdk import google_schema_gen


def test_committed_schema_is_the_discovery_documents():
    document = google_schema_gen.discovery_document()
    assert google_schema_gen.derive(document) == google_schema.SCHEMAS, (
        "calsync_emulator/google_schema.py is stale: regenerate it with "
        "`.venv/bin/python -m tests.emulator_sdk.google_schema_gen > calsync_emulator/google_schema.py`"
    )


@pytest.mark.parametrize(
    ("expression", "tree"),
    [
        ("items(id,summary)", {"items": {"id": None, "summary": None}}),
        ("items/id,items/summary", {"items": {"id": None, "summary": None}}),
        ("kind,items(start/dateTime,end)", {"kind": None, "items": {"start": {"dateTime": None}, "end": None}}),
        ("items(*)", {"items": {"*": None}}),
        ("items,items/id", {"items": None}),  # the whole wins over a narrower selection
        (" items( id , summary ) ", {"items": {"id": None, "summary": None}}),
    ],
)
def test_grammar(expression, tree):
    assert fields.parse(expression) == tree


@pytest.mark.parametrize("expression", ["", "items(", "items)", "items(id", "a,,b", "a/", "(a)", "a b"])
def test_malformed_expressions_are_refused(expression):
    with pytest.raises(fields.FieldsError):
        fields.parse(expression)


def test_apply_narrows_objects_and_each_array_element():
    body = {
        "kind": "calendar#events",
        "nextPageToken": "t",
        "items": [
            {"id": "1", "summary": "a", "start": {"dateTime": "x", "timeZone": "z"}},
            {"id": "2", "start": {"date": "2026-03-02"}},
        ],
    }
    assert fields.partial_response("items(id,start/dateTime)", body) == {
        "items": [{"id": "1", "start": {"dateTime": "x"}}, {"id": "2", "start": {}}]
    }
    assert fields.partial_response("*", body) == body
    assert fields.partial_response("items/*", body) == {"items": body["items"]}


def test_validation_uses_the_schema_of_the_kind():
    with pytest.raises(fields.FieldsError, match="Invalid field selection nope"):
        fields.partial_response("items(nope)", {"kind": "calendar#events", "items": []})
    with pytest.raises(fields.FieldsError, match="Invalid field selection summary"):
        fields.partial_response("summary/x", {"kind": "calendar#event"})  # a scalar has no sub-fields
    # maps: the keys are free, the values keep their schema
    colors = {"kind": "calendar#colors", "event": {"1": {"background": "#a", "foreground": "#b"}}}
    assert fields.partial_response("event/1/background", colors) == {"event": {"1": {"background": "#a"}}}
    with pytest.raises(fields.FieldsError):
        fields.partial_response("event/1/nope", colors)
    # an unknown kind is narrowed without validation
    assert fields.partial_response("a", {"a": 1, "b": 2}) == {"a": 1}
