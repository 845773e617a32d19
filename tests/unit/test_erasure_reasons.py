"""§8: erasure reasons are codes of one list; anything else is refused without being echoed."""

from __future__ import annotations

import pytest

from ats.errors import ValidationFailed
from ats.services.erasure import parse_reason
from ats.services.retention import REASON
from ats.vocabulary import ERASURE_REASONS


def test_the_contract_codes() -> None:
    assert ERASURE_REASONS == (
        "candidate_request",
        "consent_withdrawn",
        "retention",
        "duplicate",
        "legal_obligation",
        "unlawful_processing",
        "other",
    )
    assert REASON in ERASURE_REASONS
    assert [parse_reason(code) for code in ERASURE_REASONS] == list(ERASURE_REASONS)


@pytest.mark.parametrize("sent", ["", "Other", " other", "asked by ada@example.com", "erasure_request"])
def test_anything_else_is_a_422_naming_the_parameter(sent: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_reason(sent)
    assert [(e.pointer, e.code) for e in raised.value.errors] == [("reason", "invalid_reason")]
    assert raised.value.extra["allowed"] == list(ERASURE_REASONS)
    said = raised.value.detail + " ".join(e.detail for e in raised.value.errors)
    assert "ada@" not in said and "erasure_request" not in said and "Other" not in said
