from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from ats.settings import SETTINGS, Settings, SettingsError, load_settings, parse_duration


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
    assert parse_duration(" 2h ") == 7200
    assert parse_duration("45s") == 45
    for bad in ("0", "-5", "1w", "1.5h", "", "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_every_setting_is_declared_with_its_parser() -> None:
    """One declaration per setting: each field but ``extra`` carries a parser and is read from ATS_<NAME>."""
    names = {f.name for f in dataclasses.fields(Settings)} - {"extra"}
    assert set(SETTINGS) == {"ATS_" + name.upper() for name in names}
    assert all(callable(spec.metadata["parse"]) for spec in SETTINGS.values())


def test_an_empty_variable_means_the_default() -> None:
    settings = load_settings({"ATS_PORT": " ", "ATS_DEMO_ACCOUNT": "", "ATS_TRUSTED_PROXIES": ""})
    assert settings == load_settings({})


def test_overrides_and_replace_still_work() -> None:
    settings = load_settings({"ATS_PORT": "9000"}, workers=3)
    assert settings.port == 9000 and settings.workers == 3
    assert dataclasses.replace(settings, port=1).port == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("yes", True), ("ON", True), ("true", True), ("0", False), ("no", False), ("Off", False)],
)
def test_booleans(raw: str, expected: bool) -> None:
    assert load_settings({"ATS_DEMO_ACCOUNT": raw}).demo_account is expected


def test_numbers_durations_and_text() -> None:
    settings = load_settings(
        {
            "ATS_PORT": " 443 ",
            "ATS_WORKERS": "4",
            "ATS_S3_TIMEOUT": "10s",
            "ATS_REFRESH_TOKEN_TTL": "7d",
            "ATS_LOGIN_RATE_WINDOW": "1h",
            "ATS_HOST": " 0.0.0.0 ",
            "ATS_DATA_DIR": "~/ats-data",
            "ATS_LOG_LEVEL": "DEBUG",
            "ATS_S3_ENDPOINT_URL": "http://s3:8333",
            "ATS_REDIS_URL": "redis://cache:6379/0",
        }
    )
    assert settings.port == 443 and settings.workers == 4
    assert settings.s3_timeout == 10 and settings.refresh_token_ttl == 7 * 86400 and settings.login_rate_window == 3600
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == Path("~/ats-data").expanduser()
    assert settings.log_level == "debug"
    assert settings.s3_endpoint_url == "http://s3:8333" and settings.redis_url == "redis://cache:6379/0"


def test_trusted_proxies_are_networks() -> None:
    proxies = load_settings({"ATS_TRUSTED_PROXIES": "10.0.0.0/8, ::1,"}).trusted_proxies
    assert proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ATS_WORKERS", "-1"),
        ("ATS_PORT", "0"),
        ("ATS_S3_ENDPOINT_URL", "s3:8333"),
        ("ATS_LOG_LEVEL", "loud"),
        ("ATS_S3_TIMEOUT", "5 minutes"),
    ],
)
def test_more_bad_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=var):
        load_settings({var: value})


PASSWORD = "p@ss:w/o#rd?%"


def test_a_percent_encoded_password_reaches_sqlalchemy_intact() -> None:
    url = f"postgresql://ats:{quote(PASSWORD, safe='')}@db.example:6543/ats"
    parsed = make_url(str(load_settings({"ATS_DATABASE_URL": url}).database_url))
    assert parsed.drivername == "postgresql+psycopg"
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "ats",
        PASSWORD,
        "db.example",
        6543,
        "ats",
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://ats:a:b@db/ats",  # a ':' in the password is unambiguous
        "postgres://ats@/ats?host=/run/postgresql",  # a Unix socket
        "postgresql://ats:pw@[::1]:5432/ats",
    ],
)
def test_unambiguous_urls_are_accepted(url: str) -> None:
    assert load_settings({"ATS_DATABASE_URL": url}).database_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@ss/w#rd@host/db",  # SQLAlchemy: host "ss", database "w#rd@host/db"
        "postgresql://u:p@ss@host/db",  # SQLAlchemy: host "ss@host"
        "postgresql://u:p/ss@host:5432/db",  # RFC 3986: port "p"
        "postgresql://u:p?ss@host/db",  # RFC 3986: host "u", query "ss@host/db"
        "postgresql://u:secret@host:port/db",
    ],
)
def test_an_unencoded_password_stops_start_up_without_echoing_it(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({"ATS_DATABASE_URL": url})
    message = str(info.value)
    assert message.startswith("ATS_DATABASE_URL ")
    assert "percent-encode" in message
    for secret in ("p@ss", "w#rd", "ss@host", "secret", "p/ss", "p?ss"):
        assert secret not in message


def test_bad_secret_values_are_not_echoed() -> None:
    with pytest.raises(SettingsError, match="ATS_SMTP_URL") as info:
        load_settings({"ATS_SMTP_URL": "user:hunter2@mail"})
    assert "hunter2" not in str(info.value)


@pytest.fixture
def warnings_logged() -> Iterator[list[str]]:
    """Messages logged by ``ats.settings`` (a handler of its own: the app's logging setup stops propagation)."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("ats.settings")
    handler = Collect(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def test_an_unknown_variable_is_warned_about_with_the_closest_name(warnings_logged: list[str]) -> None:
    settings = load_settings({"ATS_DATABSE_URL": "postgresql://x/y", "ATS_COLOUR": "blue"})
    assert warnings_logged == [
        "unknown setting ATS_COLOUR (ignored)",
        "unknown setting ATS_DATABSE_URL; did you mean ATS_DATABASE_URL?",
    ]
    assert settings.database_url is None
    assert settings.extra == {"ATS_COLOUR": "blue", "ATS_DATABSE_URL": "postgresql://x/y"}


def test_known_variables_are_not_warned_about(warnings_logged: list[str]) -> None:
    load_settings({"ATS_PORT": "1", "PATH": "/bin", "ATSX": "1"})
    assert warnings_logged == []
