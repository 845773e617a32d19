from __future__ import annotations

from datetime import date

import pytest

from ats.services.stats import month_window, round_days, share


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (date(2025, 5, 31), (date(2024, 6, 1), date(2025, 6, 1))),
        (date(2025, 12, 1), (date(2025, 1, 1), date(2026, 1, 1))),
        (date(2026, 1, 15), (date(2025, 2, 1), date(2026, 2, 1))),
    ],
)
def test_month_window_is_twelve_months_ending_with_the_given_month(end: date, expected: tuple[date, date]) -> None:
    assert month_window(end) == expected


def test_share_is_rounded_and_zero_without_a_whole() -> None:
    assert share(1, 3) == 0.3333
    assert share(2, 3) == 0.6667
    assert share(0, 0) == 0.0


def test_days_are_rounded_to_two_places() -> None:
    assert round_days(2.499999) == 2.5
    assert round_days(None) is None
