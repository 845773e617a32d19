"""One typed settings object, parsed once from ``ATS_*`` environment variables.

Each field is declared once: its type, its default and its parser (``setting(default, parse)``);
``load_settings`` reads field ``foo_bar`` from ``ATS_FOO_BAR`` with that parser.
"""

# RUF009: ``setting()`` returns a ``dataclasses.Field`` (as ``field()`` does), not a shared mutable default.
# ruff: noqa: RUF009

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "ATS_"

log = logging.getLogger("ats.settings")

T = TypeVar("T")


class SettingsError(ValueError):
    """A variable holds a value that cannot be used; the message names the variable."""


def setting(default: T, parse: Callable[[str], T], *, secret: bool = False) -> T:
    """A field read from its ``ATS_*`` variable with ``parse``; a ``secret`` value is never echoed in an error."""
    return field(default=default, metadata={"parse": parse, "secret": secret})


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(raw: str) -> int:
    """``90``, ``90s``, ``15m``, ``24h`` or ``30d`` → seconds."""
    match = _DURATION.match(raw)
    if not match or int(match.group(1)) <= 0:
        raise ValueError("expected a positive duration such as 900, 15m, 24h or 30d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _parse_text(raw: str) -> str:
    return raw.strip()


def _parse_optional_text(raw: str) -> str | None:
    return raw.strip()


def _parse_path(raw: str) -> Path:
    return Path(raw.strip()).expanduser()


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _parse_positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def parse_seconds(raw: str) -> float:
    """A duration that may be a fraction of a second (``0.05``) or any :func:`parse_duration` value (``15m``)."""
    try:
        value = float(raw.strip())
    except ValueError:
        return float(parse_duration(raw))
    if not value > 0 or value == float("inf"):
        raise ValueError("expected a positive number of seconds such as 0.5, 60 or 15m")
    return value


def _parse_port(raw: str) -> int:
    value = int(raw.strip())
    if not 0 < value < 65536:
        raise ValueError("expected a port between 1 and 65535")
    return value


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_networks(raw: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


_PERCENT_ENCODE = (
    "it cannot be read unambiguously; percent-encode special characters in the user name and password "
    "(@ as %40, : as %3A, / as %2F, # as %23, ? as %3F, % as %25)"
)


def _parse_database_url(raw: str) -> str | None:
    """A ``postgresql+psycopg://`` URL that SQLAlchemy (which hands its parts to psycopg) reads as RFC 3986 does.

    A password with an unencoded ``@ : / #`` silently moves the host, port or database elsewhere;
    such a URL is refused rather than connecting to the wrong place. No part of it is echoed back.
    """
    url = raw.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise ValueError("expected a postgresql+psycopg:// URL")
    url = "postgresql+psycopg://" + rest
    if "#" in url:
        raise ValueError(_PERCENT_ENCODE)
    try:
        rfc = urlsplit(url)
        rfc_port = rfc.port
        parsed = make_url(url)
    except (ValueError, ArgumentError):
        raise ValueError(_PERCENT_ENCODE) from None
    rfc_parts = (
        unquote(rfc.username) if rfc.username is not None else None,
        unquote(rfc.password) if rfc.password is not None else None,
        (rfc.hostname or "").lower(),
        rfc_port,
        unquote(rfc.path[1:]) if rfc.path else None,
    )
    sqlalchemy_parts = (
        parsed.username,
        parsed.password,
        (parsed.host or "").lower(),
        parsed.port,
        parsed.database,
    )
    if rfc.netloc.count("@") > 1 or rfc_parts != sqlalchemy_parts:
        raise ValueError(_PERCENT_ENCODE)
    return url


def _parse_url(raw: str) -> str | None:
    url = raw.strip()
    if not re.match(r"^[a-z][a-z0-9+.-]*://", url):
        raise ValueError("expected a URL such as http://host:port")
    return url


def _parse_signing_key(raw: str) -> str | None:
    """The base64 of a raw 32-byte Ed25519 private key (``openssl rand -base64 32`` makes one)."""
    value = raw.strip()
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected the base64 of a 32-byte Ed25519 private key") from None
    if len(decoded) != 32:
        raise ValueError("expected the base64 of a 32-byte Ed25519 private key")
    return value


_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$")


def parse_origin(raw: str) -> str:
    """A browser origin (``https://careers.example.com``, no path): lower-cased, without a trailing slash."""
    origin = raw.strip().rstrip("/").lower()
    if not _ORIGIN.fullmatch(origin):
        raise ValueError(f"expected an origin such as https://careers.example.com, got {raw.strip()!r}")
    return origin


def _parse_origins(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(parse_origin(part) for part in raw.split(",") if part.strip()))


LogFormat = Literal["text", "json"]


def _parse_log_format(raw: str) -> LogFormat:
    value = raw.strip().lower()
    if value not in get_args(LogFormat):
        raise ValueError(f"expected one of {', '.join(get_args(LogFormat))}")
    return cast(LogFormat, value)


def _parse_log_level(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"debug", "info", "warning", "error"}:
        raise ValueError("expected one of debug, info, warning, error")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service. Field ``foo_bar`` is read from ``ATS_FOO_BAR``."""

    data_dir: Path = setting(Path(".ats"), _parse_path)
    host: str = setting("127.0.0.1", _parse_text)
    port: int = setting(8000, _parse_port)
    database_url: str | None = setting(None, _parse_database_url, secret=True)
    # The role that owns the schema and runs migrations (``ats db upgrade``, ``ats run``'s start-up migration);
    # unset: migrations run as ATS_DATABASE_URL's role and no privileges are granted.
    database_owner_url: str | None = setting(None, _parse_database_url, secret=True)
    database_pool_size: int = setting(20, _parse_positive_int)
    s3_endpoint_url: str | None = setting(None, _parse_url)
    s3_access_key_id: str | None = setting(None, _parse_optional_text)
    s3_secret_access_key: str | None = setting(None, _parse_optional_text, secret=True)
    s3_region: str = setting("us-east-1", _parse_text)
    s3_bucket: str = setting("ats-documents", _parse_text)
    s3_timeout: int = setting(5, parse_duration)
    # The S3 address presigned upload URLs name, when browsers reach S3 by another address than the server.
    s3_public_endpoint_url: str | None = setting(None, _parse_url)
    # Browser origins that may call /public/v1 (besides each account's board origins) and /api/v1.
    cors_origins: tuple[str, ...] = setting((), _parse_origins)
    cors_dashboard_origins: tuple[str, ...] = setting((), _parse_origins)
    log_format: LogFormat = setting("text", _parse_log_format)
    log_level: str = setting("INFO", _parse_log_level)
    access_token_ttl: int = setting(900, parse_duration)
    refresh_token_ttl: int = setting(30 * 86400, parse_duration)
    api_key_ttl: int = setting(365 * 86400, parse_duration)
    login_rate_limit: int = setting(5, _parse_positive_int)
    login_rate_window: int = setting(300, parse_duration)
    public_rate_limit: int = setting(20, _parse_positive_int)
    trusted_proxies: tuple[Network, ...] = setting((), _parse_networks)
    upload_ttl: int = setting(24 * 3600, parse_duration)
    upload_url_ttl: int = setting(3600, parse_duration)
    max_upload_bytes: int = setting(10 * 1024 * 1024, _parse_positive_int)
    max_body_bytes: int = setting(1024 * 1024, _parse_positive_int)
    sweep_interval: int = setting(300, parse_duration)
    event_retention: int = setting(30 * 86400, parse_duration)  # outbox events (the change feed), §12
    retention_days: int = setting(180, _parse_positive_int)
    talent_pool_days: int = setting(730, _parse_positive_int)
    merge_undo_days: int = setting(30, _parse_positive_int)
    smtp_url: str | None = setting(None, _parse_url, secret=True)  # may hold a password
    smtp_from: str = setting("privacy@ats.invalid", _parse_text)
    redis_url: str | None = setting(None, _parse_url, secret=True)  # may hold a password
    demo_account: bool = setting(True, _parse_bool)
    embedded_fast: bool = setting(False, _parse_bool)
    workers: int = setting(1, _parse_positive_int)
    audit_seal_interval: int = setting(300, parse_duration)
    audit_signing_key: str | None = setting(None, _parse_signing_key, secret=True)
    audit_bucket: str = setting("ats-audit", _parse_text)
    audit_checkpoint_retention: int = setting(7 * 365 * 86400, parse_duration)
    # When set, GET /metrics requires ``Authorization: Bearer <this token>``; unset, /metrics is open (keep it
    # off the public network then).
    metrics_token: str | None = setting(None, _parse_optional_text, secret=True)
    # Webhooks (§12). Plain http and private, loopback or link-local targets are for development only.
    webhooks_allow_http: bool = setting(False, _parse_bool)
    webhooks_allow_private: bool = setting(False, _parse_bool)
    # Whether this process delivers webhooks in the background (every API process does by default).
    webhooks_delivery: bool = setting(True, _parse_bool)
    # Retries: the first waits ``retry_base``, each next one twice as long up to ``retry_cap`` (+ up to 25 % jitter);
    # after ``max_attempts`` the delivery fails. The defaults retry 16 times over more than 3 days.
    webhooks_retry_base: float = setting(60.0, parse_seconds)
    webhooks_retry_cap: float = setting(12 * 3600.0, parse_seconds)
    webhooks_max_attempts: int = setting(16, _parse_positive_int)
    webhooks_timeout: float = setting(10.0, parse_seconds)  # one attempt, connect to last byte of the answer
    webhooks_concurrency: int = setting(4, _parse_positive_int)  # deliveries in flight per subscription
    webhooks_poll_interval: float = setting(1.0, parse_seconds)
    # A subscription whose deliveries fail without a success for this long is disabled and its admins mailed.
    webhooks_disable_after: int = setting(5 * 86400, parse_duration)
    # ``ATS_*`` variables that name no setting (each is warned about at load).
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True when no external PostgreSQL is configured and the embedded one is used."""
        return self.database_url is None


def variable(name: str) -> str:
    """The environment variable of setting ``name``."""
    return PREFIX + name.upper()


SETTINGS = {variable(f.name): f for f in fields(Settings) if "parse" in f.metadata}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Parse ``ATS_*`` variables; raise :class:`SettingsError` naming the first bad one.

    An empty variable means the default. An unknown ``ATS_*`` variable is kept in ``extra`` and
    logged as a warning naming the closest known one (a typo would otherwise be silently ignored).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, spec in SETTINGS.items():
        raw = env.get(var)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[spec.name] = spec.metadata["parse"](raw)
        except ValueError as exc:
            shown = var if spec.metadata["secret"] else f"{var}={raw!r}"
            raise SettingsError(f"{shown} is invalid: {exc}") from None
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in SETTINGS)
    for var in unknown:
        log.warning("%s", unknown_message(var))
    values["extra"] = {k: env[k] for k in unknown}
    values.update(overrides)
    return Settings(**values)


def unknown_message(var: str) -> str:
    """``unknown setting ATS_X``, with the closest known variable when one is close."""
    known = {name[len(PREFIX) :].lower(): name for name in SETTINGS}
    close = difflib.get_close_matches(var[len(PREFIX) :].lower(), known, n=1)
    hint = f"; did you mean {known[close[0]]}?" if close else " (ignored)"
    return f"unknown setting {var}{hint}"
