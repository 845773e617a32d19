from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ats.models import Application, Candidate, JobPosting, StatusChange
from ats.pipeline import CLOSED, STATUSES
from ats.runtime import Runtime
from tests.conftest import Account, problem

BACKEND, DESIGN, IDLE = "Backend Engineer", "Designer", "Zeta Analyst"

# (job, created_at, source, [(status, days after created_at), ...]); the last entry is current.
SEED: list[tuple[str, str, str | None, list[tuple[str, float]]]] = [
    (
        BACKEND,
        "2025-03-03T09:00",
        "linkedin",
        [("new", 0), ("screening", 2), ("interview", 5), ("offer", 9), ("hired", 10)],
    ),
    (BACKEND, "2025-03-10T09:00", "linkedin", [("new", 0), ("offer", 4), ("hired", 20)]),
    (BACKEND, "2025-04-01T18:00", None, [("new", 0), ("screening", 1), ("rejected", 3)]),
    (DESIGN, "2025-04-15T09:00", "referral", [("new", 0), ("interview", 6), ("withdrawn", 8)]),
    (DESIGN, "2025-05-20T09:00", "linkedin", [("new", 0)]),
    (BACKEND, "2024-05-20T09:00", "website", [("new", 0), ("hired", 30)]),
]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def days_since(value: str) -> float:
    return (datetime.now(UTC) - at(value)).total_seconds() / 86400


def statuses(**counts: int) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in STATUSES}


async def seed(runtime: Runtime, account_id: uuid.UUID, team: Sequence[str] = ()) -> dict[str, str]:
    """Three postings (the Designer's hiring team is ``team``) and the applications of SEED."""
    async with runtime.transaction() as session:
        jobs = {
            title: JobPosting(
                id=uuid.uuid4(),
                account_id=account_id,
                title=title,
                status="published",
                hiring_team=[uuid.UUID(u) for u in team] if title == DESIGN else [],
            )
            for title in (BACKEND, DESIGN, IDLE)
        }
        session.add_all(jobs.values())
        await session.flush()
        for n, (title, created, source, path) in enumerate(SEED):
            created_at = at(created)
            moves = [(status, created_at + timedelta(days=d)) for status, d in path]
            person = Candidate(
                id=uuid.uuid4(),
                account_id=account_id,
                name=f"Candidate {n}",
                email=f"candidate{n}@example.com",
                emails=[f"candidate{n}@example.com"],
                created_at=created_at,
                updated_at=created_at,
            )
            session.add(person)
            await session.flush()
            application = Application(
                id=uuid.uuid4(),
                account_id=account_id,
                job_id=jobs[title].id,
                candidate_id=person.id,
                status=moves[-1][0],
                previous_status=moves[-2][0] if moves[-1][0] in CLOSED else None,
                status_changed_at=moves[-1][1],
                name=f"Candidate {n}",
                email=f"candidate{n}@example.com",
                source=source,
                created_at=created_at,
                updated_at=moves[-1][1],
            )
            session.add(application)
            await session.flush()
            session.add_all(
                StatusChange(
                    account_id=account_id,
                    application_id=application.id,
                    status=status,
                    from_status=moves[i - 1][0] if i else None,
                    changed_at=changed_at,
                )
                for i, (status, changed_at) in enumerate(moves)
            )
    return {title: str(job.id) for title, job in jobs.items()}


async def get_stats(client: AsyncTestClient[Litestar], headers: dict[str, str], query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/v1/stats{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"data"}
    body: dict[str, Any] = response.json()["data"]
    return body


def months_ending(end: date) -> list[str]:
    year, month = end.year, end.month
    out = []
    for _ in range(12):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


async def test_stats_count_months_conversion_and_durations(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    jobs = await seed(runtime, account.id)
    await seed(runtime, other_account.id)  # never counted: another tenant

    stats = await get_stats(client, account.headers, "?date_to=2025-05-31")

    assert stats["total"] == 6
    assert stats["by_status"] == statuses(new=1, hired=3, rejected=1, withdrawn=1)
    assert list(stats["by_status"]) == list(STATUSES)
    assert stats["by_source"] == {"linkedin": 3, "referral": 1, "unknown": 1, "website": 1}
    # Twelve months, oldest first, ending with date_to's month; 2024-05 falls before the window.
    assert [m["month"] for m in stats["by_month"]] == months_ending(date(2025, 5, 31))
    assert stats["by_month"][0]["month"] == "2024-06"
    by_month = {m["month"]: (m["total"], m["by_source"]) for m in stats["by_month"]}
    assert by_month["2025-03"] == (2, {"linkedin": 2})
    assert by_month["2025-04"] == (2, {"unknown": 1, "referral": 1})
    assert by_month["2025-05"] == (1, {"linkedin": 1})
    assert all(by_month[m] == (0, {}) for m in months_ending(date(2025, 2, 28))[3:])
    assert stats["by_job"] == [
        {"job_id": jobs[BACKEND], "title": BACKEND, "by_status": statuses(hired=3, rejected=1)},
        {"job_id": jobs[DESIGN], "title": DESIGN, "by_status": statuses(new=1, withdrawn=1)},
    ]
    # new→offer counts as having reached screening and interview; rejected/withdrawn reach nothing new.
    assert stats["conversion"] == {"screening": 0.8333, "interview": 0.6667, "offer": 0.5, "hired": 0.5}
    # Hired after 10, 20 and 30 days: median 20, p90 = 20 + 0.8 * 10.
    assert stats["time_to_hire_days"] == {"median": 20.0, "p90": 28.0}

    in_stage = stats["time_in_stage_days"]
    assert list(in_stage) == list(STATUSES)
    # new: 1, 2, 4, 6, 30 and one still new since May 2025 → (4 + 6) / 2.
    assert in_stage["new"] == 5.0
    assert in_stage["screening"] == 2.5  # 3 and 2
    assert in_stage["interview"] == 3.0  # 4 and 2
    assert in_stage["offer"] == 8.5  # 1 and 16
    # Current entries count up to now: the middle of the three hires, the rejection, the withdrawal.
    assert in_stage["hired"] == pytest.approx(days_since("2025-03-13T09:00"), abs=0.02)
    assert in_stage["rejected"] == pytest.approx(days_since("2025-04-04T18:00"), abs=0.02)
    assert in_stage["withdrawn"] == pytest.approx(days_since("2025-04-23T09:00"), abs=0.02)


async def test_months_end_with_the_current_month_without_date_to(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    await seed(runtime, account.id)
    stats = await get_stats(client, account.headers)
    months = months_ending(datetime.now(UTC).date())
    assert [m["month"] for m in stats["by_month"]] == months
    expected = {m: 0 for m in months}
    for _, created, _, _ in SEED:
        if created[:7] in expected:
            expected[created[:7]] += 1
    assert {m["month"]: m["total"] for m in stats["by_month"]} == expected
    assert stats["total"] == 6


async def test_job_and_date_filters(account: Account, client: AsyncTestClient[Litestar], runtime: Runtime) -> None:
    jobs = await seed(runtime, account.id)

    design = await get_stats(client, account.headers, f"?job_id={jobs[DESIGN]}")
    assert design["total"] == 2
    assert design["by_status"] == statuses(new=1, withdrawn=1)
    assert design["by_source"] == {"linkedin": 1, "referral": 1}
    assert design["by_job"] == [{"job_id": jobs[DESIGN], "title": DESIGN, "by_status": design["by_status"]}]
    assert design["conversion"] == {"screening": 0.5, "interview": 0.5, "offer": 0.0, "hired": 0.0}
    assert design["time_to_hire_days"] == {"median": None, "p90": None}

    # Both days inclusive: 2025-04-01T18:00 is in, 2025-03-03 is out.
    spring = await get_stats(client, account.headers, "?date_from=2025-03-05&date_to=2025-04-01")
    assert spring["total"] == 2
    assert spring["by_status"] == statuses(hired=1, rejected=1)
    assert spring["by_source"] == {"linkedin": 1, "unknown": 1}
    assert spring["conversion"] == {"screening": 1.0, "interview": 0.5, "offer": 0.5, "hired": 0.5}
    assert spring["time_to_hire_days"] == {"median": 20.0, "p90": 20.0}
    in_stage = spring["time_in_stage_days"]
    assert {s: in_stage[s] for s in ("new", "screening", "interview", "offer", "withdrawn")} == {
        "new": 2.5,
        "screening": 2.0,
        "interview": None,
        "offer": 16.0,
        "withdrawn": None,
    }
    assert in_stage["hired"] == pytest.approx(days_since("2025-03-30T09:00"), abs=0.02)
    by_month = {m["month"]: m["total"] for m in spring["by_month"]}
    assert spring["by_month"][-1]["month"] == "2025-04"
    assert by_month == {m: {"2025-03": 1, "2025-04": 1}.get(m, 0) for m in months_ending(date(2025, 4, 1))}

    # Nothing in range: zeros everywhere, no durations, still twelve months.
    empty = await get_stats(client, account.headers, "?date_from=2023-01-01&date_to=2023-12-31")
    assert empty["total"] == 0
    assert empty["by_status"] == statuses()
    assert empty["by_source"] == {}
    assert empty["by_job"] == []
    assert empty["conversion"] == {"screening": 0.0, "interview": 0.0, "offer": 0.0, "hired": 0.0}
    assert empty["time_to_hire_days"] == {"median": None, "p90": None}
    assert empty["time_in_stage_days"] == {s: None for s in STATUSES}
    assert empty["by_month"] == [{"month": m, "total": 0, "by_source": {}} for m in months_ending(date(2023, 12, 31))]

    # A posting asked for by id is listed even without applications.
    idle = await get_stats(client, account.headers, f"?job_id={jobs[IDLE]}")
    assert idle["total"] == 0
    assert idle["by_job"] == [{"job_id": jobs[IDLE], "title": IDLE, "by_status": statuses()}]


async def test_hiring_manager_sees_only_their_postings(
    account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    manager_id, manager = await account.user("hiring_manager")
    jobs = await seed(runtime, account.id, team=[manager_id])

    mine = await get_stats(client, manager, "?date_to=2025-05-31")
    assert mine["total"] == 2
    assert mine["by_status"] == statuses(new=1, withdrawn=1)
    assert [j["title"] for j in mine["by_job"]] == [DESIGN]
    assert sum(m["total"] for m in mine["by_month"]) == 2
    assert mine["time_to_hire_days"] == {"median": None, "p90": None}
    assert mine["time_in_stage_days"]["interview"] == 2.0
    assert mine["time_in_stage_days"]["offer"] is None

    assert (await get_stats(client, manager, f"?job_id={jobs[DESIGN]}"))["total"] == 2
    problem(await client.get(f"/api/v1/stats?job_id={jobs[BACKEND]}", headers=manager), 404, "not_found")

    # A manager on no hiring team sees nothing at all.
    _, outsider = await account.user("hiring_manager")
    nothing = await get_stats(client, outsider)
    assert nothing["total"] == 0 and nothing["by_job"] == []

    # Recruiters and compliance see the whole account.
    _, recruiter = await account.user("recruiter")
    _, compliance = await account.user("compliance")
    assert (await get_stats(client, recruiter))["total"] == 6
    assert (await get_stats(client, compliance))["total"] == 6


async def test_another_accounts_posting_is_not_found(
    account: Account, other_account: Account, client: AsyncTestClient[Litestar], runtime: Runtime
) -> None:
    await seed(runtime, account.id)
    theirs = await seed(runtime, other_account.id)
    problem(await client.get(f"/api/v1/stats?job_id={theirs[BACKEND]}", headers=account.headers), 404)
    problem(await client.get(f"/api/v1/stats?job_id={uuid.uuid4()}", headers=account.headers), 404)


async def test_bad_parameters(account: Account, client: AsyncTestClient[Litestar]) -> None:
    headers = account.headers
    problem(await client.get("/api/v1/stats?date_from=2025-13-01", headers=headers), 400)
    problem(await client.get("/api/v1/stats?date_to=yesterday", headers=headers), 400)
    problem(await client.get("/api/v1/stats?job_id=not-a-uuid", headers=headers), 400)
    body = problem(await client.get("/api/v1/stats?foo=1", headers=headers), 400)
    assert "foo" in body["detail"]
    late = problem(
        await client.get("/api/v1/stats?date_from=2025-06-01&date_to=2025-05-01", headers=headers),
        422,
        "validation_failed",
    )
    assert late["errors"][0]["pointer"] == "date_from"
    problem(await client.get("/api/v1/stats"), 401)
