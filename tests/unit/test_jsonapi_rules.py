"""Pure JSON:API rules: media type parameters, pointers into the request, sparse fieldsets."""

from __future__ import annotations

import pytest
from ats.api.errors import _present, jsonapi_error
from ats.api.jsonapi import _jsonapi_params_ok, _media_type, fieldset, sparse

from ats.errors import BadRequest, FieldError


def test_media_type_parameters() -> None:
    media, params = _media_type('application/vnd.api+json; profile="https://a.example/p https://b.example/q"')
    assert media == "application/vnd.api+json" and _jsonapi_params_ok(params)
    assert _jsonapi_params_ok(_media_type("application/vnd.api+json")[1])
    assert _jsonapi_params_ok(_media_type('application/vnd.api+json; ext=""')[1])
    for refused in ("charset=utf-8", 'ext="https://a.example/ext"', "foo=bar"):
        assert not _jsonapi_params_ok(_media_type(f"application/vnd.api+json; {refused}")[1]), refused


def test_pointers_name_present_members_only() -> None:
    body = {"data": {"type": "applicant", "attributes": {"documents": [{"name": "cv"}], "a/b": 1}}}
    assert _present(body, "/data/attributes/name") == ("/data/attributes", "name")
    assert _present(body, "/data/attributes/documents/0/extension") == ("/data/attributes/documents/0", "extension")
    assert _present(body, "/data/attributes/documents/3") == ("/data/attributes/documents", "3")
    assert _present(body, "/data/attributes/a~1b") == ("/data/attributes/a~1b", "")
    assert _present(body, "/") == ("", "")
    assert _present(None, "/data") == ("", "data")
    missing = jsonapi_error(422, "validation_failed", "Validation failed", FieldError("/data/id", "is required"), body)
    assert missing["source"] == {"pointer": "/data"} and missing["detail"] == "id: is required"
    parameter = jsonapi_error(400, "bad_request", "Bad request", FieldError("page[size]", "too big"), body)
    assert parameter["source"] == {"parameter": "page[size]"}


def test_sparse_fieldsets() -> None:
    resource = {"id": "1", "type": "t", "attributes": {"a": 1, "b": 2}, "relationships": {"r": {"data": []}}}
    assert sparse(resource, None) == resource
    assert sparse(resource, fieldset("fields[t]", "a", ("a", "b", "r"))) == {
        "id": "1",
        "type": "t",
        "attributes": {"a": 1},
    }
    assert sparse(resource, fieldset("fields[t]", "", ("a",))) == {"id": "1", "type": "t"}
    with pytest.raises(BadRequest) as refused:
        fieldset("fields[t]", "a,secret", ("a", "b"))
    assert [e.pointer for e in refused.value.errors] == ["fields[t]"]
