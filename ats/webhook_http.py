"""What leaves the process for a webhook (§12): target checks (SSRF), Standard Webhooks signatures, one POST.

A target is checked twice: its URL when a subscription is saved (scheme, credentials, a literal forbidden address),
and every address its host resolves to right before each attempt. The POST then connects to the address that was
checked (the URL's host goes in ``Host`` and TLS SNI, and the certificate is verified against it), so a DNS answer
that changes between the check and the connection cannot send the request elsewhere. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_secret() -> str:
    """``whsec_`` and the base64 of 32 random bytes: the key form Standard Webhooks verifiers read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secrets_: list[str], event_id: str, timestamp: datetime, body: bytes) -> str:
    """``v1,<sig>`` per valid secret, space-separated (the newest first), as the ``standardwebhooks`` package signs."""
    text = body.decode()
    return " ".join(Webhook(secret).sign(event_id, timestamp, text) for secret in secrets_)


def forbidden_kind(address: IPAddress) -> str | None:
    """What makes ``address`` an internal target (``loopback``, ``private`` …), or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.IPv6Network("fc00::/7"):
        return "unique-local"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"
    return None


class TargetRefused(Exception):
    """The target may not be called (scheme, or an internal address with ``ATS_WEBHOOKS_ALLOW_PRIVATE`` off)."""


def url_problem(url: str, *, allow_http: bool, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a webhook target (as the API says it), or None when it can be."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "must be an absolute https URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https URL"
    if parts.scheme == "http" and not allow_http:
        return "must use https (plain http only when ATS_WEBHOOKS_ALLOW_HTTP is set)"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.fragment:
        return "must not have a fragment"
    if port == 0:
        return "must name a valid port"
    host = parts.hostname.rstrip(".").lower()
    if allow_private:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "must not name a loopback host"
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    kind = forbidden_kind(address)
    return f"must not name a {kind} address" if kind else None


async def resolve(host: str, port: int, *, allow_private: bool) -> IPAddress:
    """The address to connect to: every address ``host`` resolves to is checked, the first one is used."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise TargetRefused("the host name does not resolve") from None
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not found:
            raise TargetRefused("the host name does not resolve")
    if not allow_private:
        for address in found:
            kind = forbidden_kind(address)
            if kind:
                raise TargetRefused(f"the host resolves to a {kind} address (ATS_WEBHOOKS_ALLOW_PRIVATE is off)")
    return found[0]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: the status code (None when no answer came), how long it took, and what went wrong."""

    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def new_client() -> httpx.AsyncClient:
    """No proxies from the environment (a proxy would resolve the host itself), no redirects, no cookies.

    No kept-alive connections either: the pool is keyed by the address connected to, so a connection opened (and
    its certificate checked) for one host name could otherwise carry a request for another name on that address.
    httpx's own INFO line per request is silenced: it names the target URL, whose query may hold a receiver's token.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.AsyncClient(trust_env=False, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0))


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    time_limit: float,
    allow_http: bool,
    allow_private: bool,
) -> Outcome:
    """POST ``body`` to ``url`` once, connecting only to a checked address; never raises for the target's faults."""
    started = time.monotonic()

    def done(status: int | None, error: str | None) -> Outcome:
        return Outcome(status, int((time.monotonic() - started) * 1000), error)

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        problem = url_problem(url, allow_http=allow_http, allow_private=allow_private)
        if problem:
            raise TargetRefused(f"the URL {problem}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        async with asyncio.timeout(time_limit):
            address = await resolve(host, port, allow_private=allow_private)
            literal = f"[{address}]" if address.version == 6 else str(address)
            target = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
            sent = {**headers, "Host": parts.netloc.rpartition("@")[2], "Content-Type": "application/json"}
            request = client.build_request(
                "POST", target, content=body, headers=sent, extensions={"sni_hostname": host}, timeout=time_limit
            )
            response = await client.send(request, stream=True)
            await response.aclose()  # the answer's body is not needed
            return done(response.status_code, None if 200 <= response.status_code < 300 else "unsuccessful status")
    except TargetRefused as exc:
        return done(None, f"refused: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return done(None, f"timed out after {time_limit:g} s")
    except (httpx.ConnectError, httpx.NetworkError) as exc:
        return done(None, f"connection failed: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return done(None, f"request failed: {type(exc).__name__}")
    except OSError as exc:
        return done(None, f"connection failed: {type(exc).__name__}")


def headers_for(event_id: str, secrets_: list[str], body: bytes, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (a fresh timestamp each time, the same id every time)."""
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secrets_, event_id, at, body),
        "User-Agent": "ats-webhooks/1",
    }
