"""One typed settings object, parsed once from ``ATS_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

PREFIX = "ATS_"


class SettingsError(ValueError):
    """A variable holds a value that cannot be used; the message names the variable."""


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(raw: str) -> int:
    """``90``, ``90s``, ``15m``, ``24h`` or ``30d`` → seconds."""
    match = _DURATION.match(raw)
    if not match or int(match.group(1)) <= 0:
        raise ValueError("expected a positive duration such as 900, 15m, 24h or 30d")
    return int(match.group(1)) * _UNITS[match.group(2)]


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


def _parse_port(raw: str) -> int:
    value = int(raw.strip())
    if not 0 < value < 65536:
        raise ValueError("expected a port between 1 and 65535")
    return value


def _parse_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def _parse_database_url(raw: str) -> str:
    url = raw.strip()
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith("postgresql+psycopg://"):
        raise ValueError("expected a postgresql+psycopg:// URL")
    return url


def _parse_url(raw: str) -> str:
    url = raw.strip()
    if not re.match(r"^[a-z][a-z0-9+.-]*://", url):
        raise ValueError("expected a URL such as http://host:port")
    return url


def _choice(*allowed: str) -> Any:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service. Field ``foo_bar`` is read from ``ATS_FOO_BAR``."""

    data_dir: Path = Path(".ats")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    database_pool_size: int = 20
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "ats-documents"
    s3_timeout: int = 5
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 86400
    api_key_ttl: int = 365 * 86400
    login_rate_limit: int = 5
    login_rate_window: int = 300
    public_rate_limit: int = 20
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    upload_ttl: int = 24 * 3600
    upload_url_ttl: int = 3600
    max_upload_bytes: int = 10 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024
    sweep_interval: int = 300
    retention_days: int = 180
    talent_pool_days: int = 730
    smtp_url: str | None = None
    smtp_from: str = "privacy@ats.invalid"
    redis_url: str | None = None
    demo_account: bool = True
    embedded_fast: bool = False
    workers: int = 1
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        """True when no external PostgreSQL is configured and the embedded one is used."""
        return self.database_url is None


_PARSERS: dict[str, Any] = {
    "data_dir": lambda raw: Path(raw).expanduser(),
    "host": str.strip,
    "port": _parse_port,
    "database_url": _parse_database_url,
    "database_pool_size": _parse_positive_int,
    "s3_endpoint_url": _parse_url,
    "s3_access_key_id": str.strip,
    "s3_secret_access_key": str.strip,
    "s3_region": str.strip,
    "s3_bucket": str.strip,
    "s3_timeout": parse_duration,
    "log_format": _choice(*get_args(Literal["text", "json"])),
    "log_level": _choice("debug", "info", "warning", "error"),
    "access_token_ttl": parse_duration,
    "refresh_token_ttl": parse_duration,
    "api_key_ttl": parse_duration,
    "login_rate_limit": _parse_positive_int,
    "login_rate_window": parse_duration,
    "public_rate_limit": _parse_positive_int,
    "trusted_proxies": _parse_networks,
    "upload_ttl": parse_duration,
    "upload_url_ttl": parse_duration,
    "max_upload_bytes": _parse_positive_int,
    "max_body_bytes": _parse_positive_int,
    "sweep_interval": parse_duration,
    "retention_days": _parse_positive_int,
    "talent_pool_days": _parse_positive_int,
    "smtp_url": _parse_url,
    "smtp_from": str.strip,
    "redis_url": _parse_url,
    "demo_account": _parse_bool,
    "embedded_fast": _parse_bool,
    "workers": _parse_positive_int,
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Parse ``ATS_*`` variables; raise :class:`SettingsError` naming the first bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)} - {"extra"}
    for name in known:
        var = PREFIX + name.upper()
        raw = env.get(var)
        if raw is None or (raw.strip() == "" and name not in {"trusted_proxies"}):
            continue
        try:
            values[name] = _PARSERS[name](raw)
        except ValueError as exc:
            raise SettingsError(f"{var}={raw!r} is invalid: {exc}") from None
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k[len(PREFIX) :].lower() not in known)
    values["extra"] = {k: env[k] for k in unknown}
    values.update(overrides)
    return Settings(**values)
