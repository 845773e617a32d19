"""The suite never runs on the developer's settings: an exported ATS_DATA_DIR or ATS_DATABASE_URL is dropped."""

from __future__ import annotations

from pathlib import Path

from ats.settings import load_settings
from tests.conftest import suite_environment

DEVELOPER = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/dev",
    "ATS_DATA_DIR": "/home/dev/ats-data",
    "ATS_DATABASE_URL": "postgresql://dev:pw@localhost/ats_dev",
    "ATS_S3_ENDPOINT_URL": "http://localhost:8333",
    "ATS_S3_ACCESS_KEY_ID": "dev-key",
    "ATS_S3_SECRET_ACCESS_KEY": "dev-secret",
    "ATS_SMTP_URL": "smtp://mail.example:25",
    "ATS_DEMO_ACCOUNT": "true",
    "ATS_TYPO": "x",
}


def test_the_developers_ats_variables_are_dropped() -> None:
    env = suite_environment(DEVELOPER, Path("/tmp/ats-test-1"))
    assert {k for k in env if k.startswith("ATS_")} == {"ATS_DATA_DIR", "ATS_EMBEDDED_FAST", "ATS_DEMO_ACCOUNT"}
    assert env["ATS_DATA_DIR"] == "/tmp/ats-test-1"
    assert env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/home/dev"  # the rest is kept
    assert DEVELOPER["ATS_DATA_DIR"] == "/home/dev/ats-data"  # the input is not modified


def test_the_suite_settings_use_embedded_services_in_the_throwaway_dir() -> None:
    settings = load_settings(suite_environment(DEVELOPER, Path("/tmp/ats-test-1")))
    assert settings.data_dir == Path("/tmp/ats-test-1")
    assert settings.embedded and settings.database_url is None
    assert settings.s3_endpoint_url is None and settings.s3_secret_access_key is None
    assert settings.smtp_url is None
    assert settings.embedded_fast and not settings.demo_account
    assert settings.extra == {}
