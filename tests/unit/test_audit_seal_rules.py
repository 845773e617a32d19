"""The checkpoint rules, without database or S3: what ``verify`` and ``verify --offline`` decide."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ats import audit, audit_seal
from ats.settings import SettingsError, load_settings

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _records(account: uuid.UUID, n: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    prev = audit.GENESIS
    for seq in range(1, n + 1):
        body = {
            "id": str(uuid.uuid4()),
            "seq": seq,
            "at": (START + timedelta(seconds=seq)).isoformat(),
            "account_id": str(account),
            "actor": {"type": "system", "id": None},
            "action": "job.created",
            "object_type": "job",
            "object_id": None,
            "data": {"n": seq},
        }
        prev = audit.chain_hash(prev, body)
        records.append({**body, "prev_hash": records[-1]["hash"] if records else audit.GENESIS, "hash": prev})
    return records


def _checkpoints(account: uuid.UUID, records: list[dict[str, Any]], *seqs: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev = audit.GENESIS
    for seq in seqs:
        at = (START + timedelta(seconds=seq, milliseconds=500)).isoformat()
        body = {"account_id": str(account), "seq": seq, "head": records[seq - 1]["hash"], "count": seq, "at": at}
        signed = audit_seal.sign(KEY, {**body, "prev": prev})
        prev = audit_seal.checkpoint_hash(signed)
        out.append(signed)
    return out


def test_sealed_and_unsealed_are_counted() -> None:
    account = uuid.uuid4()
    records = _records(account, 7)
    result = audit_seal.check(account, records, _checkpoints(account, records, 3, 5), PUBLIC)
    assert result.ok and result.checked == 7 and result.sealed_through == 5 and result.unsealed == 2
    unsealed_only = audit_seal.check(account, records, [], PUBLIC)
    assert unsealed_only.ok and unsealed_only.sealed_through is None and unsealed_only.unsealed == 7


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda cps: cps.pop(0), "chain broken"),
        (lambda cps: cps.reverse(), "chain broken"),
        (lambda cps: cps[1].update(count=4), "signature invalid"),
        (lambda cps: cps.__setitem__(1, audit_seal.sign(Ed25519PrivateKey.generate(), cps[1])), "signature invalid"),
        (lambda cps: cps.__setitem__(0, audit_seal.CheckpointError("not JSON")), "unreadable"),
    ],
)
def test_altered_checkpoints_fail(change: Any, reason: str) -> None:
    account = uuid.uuid4()
    records = _records(account, 5)
    checkpoints: list[Any] = _checkpoints(account, records, 3, 5)
    change(checkpoints)
    result = audit_seal.check(account, records, checkpoints, PUBLIC)
    assert not result.ok and result.reason is not None and reason in result.reason


def test_a_checkpoint_of_another_account_fails() -> None:
    account, other = uuid.uuid4(), uuid.uuid4()
    records = _records(other, 3)
    result = audit_seal.check(account, records, _checkpoints(other, records, 3), PUBLIC)
    assert not result.ok and result.reason == "checkpoint of another account"


def test_truncated_and_rewritten_events_fail() -> None:
    account = uuid.uuid4()
    records = _records(account, 5)
    checkpoints = _checkpoints(account, records, 5)
    assert audit_seal.check(account, records[:4], checkpoints, PUBLIC).reason == "sealed events missing"
    rewritten = _records(account, 5)  # a whole new, internally valid chain
    result = audit_seal.check(account, rewritten, checkpoints, PUBLIC)
    assert not result.ok and result.broken_at == 5 and "head hash" in str(result.reason)


def test_an_event_behind_the_last_checkpoint_may_not_be_backdated() -> None:
    account = uuid.uuid4()
    records = _records(account, 4)
    checkpoints = _checkpoints(account, records, 3)
    late = dict(records[3])
    assert audit_seal.check(account, records, checkpoints, PUBLIC).ok
    late["at"] = (START - timedelta(days=1)).isoformat()
    body = {k: v for k, v in late.items() if k not in {"prev_hash", "hash"}}
    late["hash"] = audit.chain_hash(late["prev_hash"], body)
    result = audit_seal.check(account, [*records[:3], late], checkpoints, PUBLIC)
    assert not result.ok and result.broken_at == 4 and "backdated" in str(result.reason)


def test_public_key_forms() -> None:
    text = audit_seal.public_key_text(KEY)
    assert audit_seal.parse_public_key(text).public_bytes_raw() == PUBLIC.public_bytes_raw()
    line = json.dumps({"algorithm": "Ed25519", "public_key": text}) + "\n"
    assert audit_seal.parse_public_key(line).public_bytes_raw() == PUBLIC.public_bytes_raw()
    for bad in ("nope", base64.b64encode(b"short").decode(), "{}"):
        with pytest.raises(ValueError, match="public key"):
            audit_seal.parse_public_key(bad)


def test_signing_key_setting_and_generated_key(tmp_path: Path) -> None:
    seed = base64.b64encode(b"k" * 32).decode()
    settings = load_settings({"ATS_AUDIT_SIGNING_KEY": seed, "ATS_DATA_DIR": str(tmp_path)})
    assert audit_seal.signing_key(settings).private_bytes_raw() == b"k" * 32
    with pytest.raises(SettingsError, match="ATS_AUDIT_SIGNING_KEY is invalid") as raised:
        load_settings({"ATS_AUDIT_SIGNING_KEY": "c2hvcnQ="})
    assert "c2hvcnQ" not in str(raised.value)  # a secret is never echoed
    generated = load_settings({"ATS_DATA_DIR": str(tmp_path)})
    first = audit_seal.signing_key(generated)
    assert (tmp_path / audit_seal.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert audit_seal.signing_key(generated).private_bytes_raw() == first.private_bytes_raw()
