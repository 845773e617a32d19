"""The status machine of §4, as a pure rule."""

from __future__ import annotations

import pytest

from ats.errors import TransitionNotAllowed, ValidationFailed
from ats.pipeline import STATUSES, Status, allowed_next, check_move, generic_next, parse_status, position

S = Status


def test_statuses_in_flow_order() -> None:
    assert STATUSES == ("new", "screening", "interview", "offer", "hired", "rejected", "withdrawn")
    assert [position(s) for s in STATUSES] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (S.NEW, [S.SCREENING, S.INTERVIEW, S.OFFER, S.HIRED, S.REJECTED, S.WITHDRAWN]),
        (S.SCREENING, [S.INTERVIEW, S.OFFER, S.HIRED, S.REJECTED, S.WITHDRAWN]),
        (S.INTERVIEW, [S.OFFER, S.HIRED, S.REJECTED, S.WITHDRAWN]),
        (S.OFFER, [S.HIRED, S.REJECTED, S.WITHDRAWN]),
        (S.HIRED, []),
    ],
)
def test_open_statuses_go_forward_or_close(current: Status, expected: list[Status]) -> None:
    assert allowed_next(current) == expected


def test_closed_statuses_reopen_only_to_the_status_before() -> None:
    assert allowed_next(S.REJECTED, S.INTERVIEW) == [S.INTERVIEW]
    assert allowed_next(S.WITHDRAWN, S.NEW) == [S.NEW]
    assert allowed_next(S.REJECTED, None) == []
    assert generic_next(S.REJECTED) == []


def test_same_status_is_a_no_op() -> None:
    move = check_move(S.OFFER, S.OFFER, None)
    assert not move.changed
    assert not check_move(S.HIRED, S.HIRED, None).changed


def test_closing_remembers_where_it_was() -> None:
    move = check_move(S.SCREENING, S.REJECTED, None)
    assert move.changed and move.previous_after == S.SCREENING
    reopen = check_move(S.REJECTED, S.SCREENING, S.SCREENING)
    assert reopen.changed and reopen.previous_after is None


def test_a_move_not_in_the_table_lists_the_allowed_targets() -> None:
    with pytest.raises(TransitionNotAllowed) as info:
        check_move(S.OFFER, S.SCREENING, None)
    assert info.value.extra["allowed"] == ["hired", "rejected", "withdrawn"]
    with pytest.raises(TransitionNotAllowed) as info:
        check_move(S.HIRED, S.REJECTED, None)
    assert info.value.extra["allowed"] == []
    with pytest.raises(TransitionNotAllowed):
        check_move(S.REJECTED, S.WITHDRAWN, S.OFFER)


def test_unknown_status_lists_every_valid_value() -> None:
    assert parse_status("interview") is S.INTERVIEW
    with pytest.raises(ValidationFailed) as info:
        parse_status("archived")
    assert info.value.extra["allowed"] == list(STATUSES)
    assert info.value.errors[0].pointer == "/status"
