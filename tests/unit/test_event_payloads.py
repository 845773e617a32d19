"""Event payloads (§12) without a database: the API's JSON of each object, ids only for an erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from ats import events, payloads
from ats.models import Application, Document
from ats.services.application_views import new_view
from ats.views import DocumentView, Job, NoteView, QuestionOut, RatingView, Ref

AT = datetime(2025, 1, 16, 9, 0, 0, 123456, tzinfo=UTC)


def as_api_encodes(struct: msgspec.Struct) -> object:
    return msgspec.json.decode(msgspec.json.encode(struct))


def _application() -> Application:
    return Application(
        id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        status="new",
        status_changed_at=AT,
        name="Zoë Łukasz",
        salutation=None,
        first_name=None,
        last_name=None,
        email="zoe@example.com",
        phone="+49 30 1234",
        street=None,
        postal_code=None,
        city="Berlin",
        country=None,
        cover_letter="Hello",
        custom_fields={"years": 3},
        source="careers",
        consent_privacy_policy=True,
        consent_privacy_policy_version="2025-01",
        consent_talent_pool=False,
        consented_at=AT,
        consent_ip="203.0.113.9",
        legal_hold=False,
        rating_total=0,
        rating_count=0,
        version=1,
        created_at=AT,
        updated_at=AT,
    )


def test_a_new_application_is_the_api_shape_built_from_memory() -> None:
    application = _application()
    document = Document(
        id=uuid.uuid4(),
        account_id=application.account_id,
        application_id=application.id,
        type="cv",
        name="Resume",
        extension="pdf",
        filename="Resume.pdf",
        mime_type="application/pdf",
        size=None,
        upload_status="uploading",
        storage_key="k",
        created_at=AT,
    )
    stage = Ref(uuid.uuid4(), "New")
    view = new_view(application, "Engineer", stage, None, [document], api_base="/ats/api/v1")
    data = payloads.application(view)
    assert data == as_api_encodes(view)
    assert data["status_history"] == [
        {"status": "new", "changed_at": "2025-01-16T09:00:00.123456Z", "changed_by": None, "note": None, "reason": None}
    ]
    assert data["job"] == {"id": str(application.job_id), "title": "Engineer"}
    assert data["stage"] == {"id": str(stage.id), "name": "New"}
    assert data["candidate"]["name"] == "Zoë Łukasz" and data["candidate"]["address"]["city"] == "Berlin"
    assert data["documents"] == [
        {
            "id": str(document.id),
            "type": "cv",
            "filename": "Resume.pdf",
            "mime_type": "application/pdf",
            "size": None,
            "upload_status": "uploading",
            "url": f"/ats/api/v1/applications/{application.id}/documents/{document.id}",
        }
    ]
    assert data["notes"] == [] and data["rating"] is None and data["rating_count"] == 0
    assert msgspec.json.decode(msgspec.json.encode(data)) == data  # plain JSON values, storable as JSONB


def test_child_objects_carry_their_application() -> None:
    application_id = uuid.uuid4()
    note = NoteView(uuid.uuid4(), "Call back", True, Ref(uuid.uuid4(), "Rita"), AT, AT)
    assert payloads.note(note, application_id) == {**as_api_encodes(note), "application_id": str(application_id)}  # type: ignore[dict-item]
    doc = DocumentView(uuid.uuid4(), "cv", "cv.pdf", "application/pdf", 10, "uploaded", "/api/v1/x")
    assert payloads.document(doc, application_id)["application_id"] == str(application_id)
    rating = RatingView(Ref(uuid.uuid4(), "Rita"), 4, {"skills": 5}, AT, AT)
    data = payloads.rating(rating, application_id, average=4.5, count=2)
    assert data["rating"] == 4 and data["criteria"] == {"skills": 5} and (data["average"], data["count"]) == (4.5, 2)
    job = Job(uuid.uuid4(), "Engineer", None, None, None, "full_time", "published", True, None, [], [], AT, AT)
    assert payloads.job(job) == as_api_encodes(job)
    with_question = msgspec.structs.replace(job, application_questions=[QuestionOut("k", "K?", "text", True, None)])
    assert payloads.job(with_question)["application_questions"][0]["key"] == "k"


def test_an_erasure_carries_ids_only() -> None:
    application_id, job_id = uuid.uuid4(), uuid.uuid4()
    assert payloads.erased(application_id, job_id) == {"application_id": str(application_id), "job_id": str(job_id)}


def test_an_event_queued_without_data_carries_its_ids() -> None:
    candidate_id = uuid.uuid4()
    assert events.ids_payload({"account_id": uuid.uuid4(), "candidate_id": candidate_id}) == {
        "candidate_id": str(candidate_id)
    }


def test_unknown_events_and_events_without_an_account_are_refused() -> None:
    class FakeSession:
        info: dict[str, object] = {}

    with pytest.raises(ValueError, match="unknown event"):
        events.queue(FakeSession(), "application.exploded", account_id=uuid.uuid4())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="account_id"):
        events.queue(FakeSession(), "job.created", job_id=uuid.uuid4())  # type: ignore[arg-type]


def test_a_row_insert_refuses_to_bypass_a_server_default() -> None:
    """The compiled INSERT names every column: an unset column the database would fill is an error, not a NULL."""
    import uuid

    import pytest

    from ats.models import Application
    from ats.statements import RowInsert

    insert = RowInsert(Application)
    with pytest.raises(ValueError, match="custom_fields"):
        insert.params(Application(id=uuid.uuid4()))
