"""PostgreSQL crashed (SIGKILL) and S3 killed under load, each restarted with ``ats services start``: no 500, no
connection the app drops, recovery within a bound, and after one sweep no row without its object, no object without
its row and no work left (the scenario is ``bench.fault_scenario``; ``python -m bench faults`` runs it longer)."""

from __future__ import annotations

import httpx

from bench.fault_scenario import Schedule, scenario
from tests.integration.helpers import assert_jsonapi

RECOVERY_BOUND = 45.0


def _jsonapi(response: httpx.Response) -> None:
    assert_jsonapi(response)


async def test_postgres_crash_and_s3_stop_under_load() -> None:
    outcome = await scenario(Schedule(recovery_bound=RECOVERY_BOUND), jsonapi_check=_jsonapi)
    report = "\n".join(f"{name}: {value}" for name, value in outcome.lines())
    print(report)
    # every answer in the contract: 2xx, 4xx or 503 in its family's shape; none missing, no 500
    assert not outcome.faults, (outcome.faults[:10], report)
    assert outcome.by_class["500"] == outcome.by_class["5xx"] == outcome.by_class["none"] == 0, report
    assert outcome.requests == sum(outcome.by_class[k] for k in ("2xx", "4xx", "503")), report
    assert 500 not in outcome.server_log_statuses and not outcome.server_log_errors, report
    # the faults were felt, and the flows ran before, between and after them
    assert outcome.by_class["503"] > 0, report
    assert outcome.flows["apply full"] > 0 and outcome.flows["download"] > 0, report
    assert outcome.wrong_bytes == 0, report
    # recovery: ready and a full apply (201, both documents uploaded) within the bound after each restart
    for figure in (outcome.pg_ready_s, outcome.pg_recovery_s, outcome.s3_ready_s, outcome.s3_recovery_s):
        assert figure is not None and figure < RECOVERY_BOUND, report
    # one sweep leaves the books balanced
    assert outcome.rows_without_objects == [], report
    assert outcome.objects_without_rows == [], report
    assert outcome.pending_total == 0, report
    assert outcome.documents["uploaded"] > 0 and outcome.objects == outcome.documents["uploaded"], report
