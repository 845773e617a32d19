from __future__ import annotations

from pathlib import Path

import pytest

from ats.settings import SettingsError, load_settings, parse_duration


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.data_dir == Path(".ats")
    assert settings.embedded
    assert settings.public_rate_limit == 20 and settings.upload_ttl == 86400
    assert settings.retention_days == 180 and settings.talent_pool_days == 730


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "ATS_PORT": "9000",
            "ATS_DATABASE_URL": "postgresql://u:p@db:5432/ats",
            "ATS_UPLOAD_TTL": "2h",
            "ATS_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "ATS_LOG_FORMAT": "JSON",
        }
    )
    assert settings.port == 9000
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/ats"
    assert not settings.embedded
    assert settings.upload_ttl == 7200
    assert len(settings.trusted_proxies) == 2
    assert settings.log_format == "json"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ATS_PORT", "eighty"),
        ("ATS_PORT", "70000"),
        ("ATS_DATABASE_URL", "mysql://x"),
        ("ATS_UPLOAD_TTL", "soon"),
        ("ATS_PUBLIC_RATE_LIMIT", "0"),
        ("ATS_TRUSTED_PROXIES", "not-an-ip"),
        ("ATS_LOG_FORMAT", "xml"),
        ("ATS_DEMO_ACCOUNT", "maybe"),
    ],
)
def test_a_bad_value_names_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        load_settings({var: value})


def test_durations() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("1d") == 86400
    with pytest.raises(ValueError):
        parse_duration("0")
