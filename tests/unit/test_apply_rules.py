"""Pure rules of the public apply and documents: validation, answers, headers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ats.api.apply_input import parse_document, validate
from ats.api.documents import content_disposition

from ats.errors import Conflict, ErrorCollector, Forbidden
from ats.models import JobPosting
from ats.services.public_apply import check_answers


def _attrs(**changes: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "name": "Jo",
        "email": "jo@example.com",
        "job_posting_id": str(uuid.uuid4()),
        "documents": [{"extension": "PDF", "name": "CV"}],
        "consent": {"privacy_policy": True, "privacy_policy_version": "v1"},
    }
    attrs.update(changes)
    return attrs


def test_a_valid_request() -> None:
    errors = ErrorCollector()
    request = validate(_attrs(), errors)
    assert errors.errors == [] and request is not None
    assert request.documents[0].extension == "pdf" and request.documents[0].type == "other"
    assert request.talent_pool is False


def test_every_problem_is_collected() -> None:
    errors = ErrorCollector()
    attrs = _attrs(name=5, email=None, documents="cv.pdf", consent={"privacy_policy": "yes"}, extra=1)
    assert validate(attrs, errors) is None
    assert {e.pointer for e in errors.errors} == {
        "/data/attributes/name",
        "/data/attributes/email",
        "/data/attributes/documents",
        "/data/attributes/consent/privacy_policy",
        "/data/attributes/consent/privacy_policy_version",
        "/data/attributes/extra",
    }


def test_envelope() -> None:
    errors = ErrorCollector()
    assert parse_document([1, 2], errors) is None
    assert parse_document({"data": {"type": "applicant", "attributes": {}}}, ErrorCollector()) == {}
    # JSON:API 1.1: a client-generated id is a 403, another type a 409; neither is one of the collected 422s
    with pytest.raises(Forbidden) as forbidden:
        parse_document({"data": {"type": "applicant", "id": "x", "attributes": {}}}, ErrorCollector())
    assert [e.pointer for e in forbidden.value.errors] == ["/data/id"]
    with pytest.raises(Conflict) as conflict:
        parse_document({"data": {"type": "person", "attributes": {}}}, ErrorCollector())
    assert [e.pointer for e in conflict.value.errors] == ["/data/type"]


def test_answers_follow_the_question_types() -> None:
    job = JobPosting(
        application_questions=[
            {"key": "n", "label": "N", "type": "number", "required": True},
            {"key": "b", "label": "B", "type": "boolean", "required": True},
            {"key": "d", "label": "D", "type": "date"},
            {"key": "c", "label": "C", "type": "choice", "choices": ["x", "y"]},
            {"key": "t", "label": "T", "type": "text"},
        ]
    )
    errors = ErrorCollector()
    check_answers(job, {"n": 3.5, "b": False, "d": "2025-01-31", "c": "y", "t": "ok"}, errors)
    assert errors.errors == []
    errors = ErrorCollector()
    check_answers(job, {"n": True, "d": "31.01.2025", "c": "z", "t": 5}, errors)
    assert {e.pointer.rsplit("/", 1)[1] for e in errors.errors} == {"n", "b", "d", "c", "t"}


def test_content_disposition_has_an_ascii_fallback_and_the_exact_name() -> None:
    header = content_disposition('Lebenslauf "Müller".pdf')
    assert header.startswith('attachment; filename="Lebenslauf _M_ller_.pdf"')
    assert header.endswith("filename*=UTF-8''Lebenslauf%20%22M%C3%BCller%22.pdf")
