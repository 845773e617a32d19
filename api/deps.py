"""Dependencies and guards shared by every controller: the request's session, the caller, the rules."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeAlias

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import KwargDefinition, ParameterKwarg, QueryParameter
from litestar.types import Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from sqlalchemy.ext.asyncio import AsyncSession

from ats import events
from ats.auth import Principal
from ats.errors import (
    BadRequest,
    DomainError,
    FieldError,
    Forbidden,
    MalformedRequest,
    Unauthorized,
    ValidationFailed,
)
from ats.roles import Permission
from ats.runtime import Runtime
from ats.services import logins
from ats.settings import Network

from .errors import field_error_from_msgspec
from .jsonapi import negotiate

STATE_KEY = "ats_runtime"

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def runtime_of(state: State) -> Runtime:
    runtime: Runtime = state[STATE_KEY]
    return runtime


async def provide_runtime(state: State) -> Runtime:
    return runtime_of(state)


SCOPE_SESSION = "ats_session"


async def provide_db_session(runtime: Runtime, request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """The request owns the transaction: commit on success, roll back on error.

    A domain error whose class says ``keeps_work`` (a failed login, a reused refresh token) commits
    first: that work is its outcome. The session the authentication middleware opened is reused: one
    connection per request.

    It takes ``runtime`` (a dependency) rather than ``state``: Litestar resolves dependencies of one level
    together in an anyio task group, and this puts the session a level after the runtime (no task group for
    a handler that takes both).
    """
    opened: AsyncSession | None = request.scope.pop(SCOPE_SESSION, None)  # type: ignore[misc]
    async with opened or runtime.sessions() as session:
        try:
            yield session
        except Exception as exc:
            if isinstance(exc, DomainError) and exc.keeps_work:
                await events.commit(session, runtime.emit)
            else:
                events.discard(session)
                await session.rollback()
            raise
        await events.commit(session, runtime.emit)


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized("Authentication required")
    return principal


async def provide_principal_after_session(request: Request[Any, Any, Any], db_session: AsyncSession) -> Principal:
    """:func:`provide_principal` for controllers whose every handler takes the request's session too.

    Litestar resolves the dependencies of one level together in an anyio task group (two tasks, ~0.1 ms a
    request); the caller resolved after the session (it only reads the scope) puts each dependency in a level of
    its own: runtime, session, principal, one after the other. The caller is always there by then: the
    authentication middleware answers 401 itself, before any dependency (so the session is never left open by
    this one failing).
    """
    del db_session
    return await provide_principal(request)


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolves ``Authorization: Bearer …`` (user access token or API key) into a :class:`Principal`."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("A bearer token is required")
        runtime = runtime_of(connection.app.state)
        if not _takes_session(connection.route_handler):
            # The handler runs its own units of work around S3 or SMTP calls: hold no connection for it.
            async with runtime.sessions() as session:
                principal = await logins.authenticate(session, secret.strip())
        else:
            # The request's own session: the handler's work continues on this connection.
            session = runtime.sessions()
            connection.scope[SCOPE_SESSION] = session  # type: ignore[literal-required]
            principal = await logins.authenticate(session, secret.strip())
        if principal is None:
            raise Unauthorized("The token is invalid, expired or revoked")
        return AuthenticationResult(user=principal, auth=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Not taken by the handler (no database work, or an error before it): give it back.
            leftover: AsyncSession | None = scope.pop(SCOPE_SESSION, None)  # type: ignore[misc]
            if leftover is not None:
                await leftover.close()


_takes_session_cache: dict[int, tuple[BaseRouteHandler, bool]] = {}


def _takes_session(handler: BaseRouteHandler) -> bool:
    """Whether the handler asks for the request's session (``db_session``) at all."""
    cached = _takes_session_cache.get(id(handler))
    if cached is None or cached[0] is not handler:  # see _body_types: ids are reused
        takes = "db_session" in handler.parsed_fn_signature.parameters
        cached = _takes_session_cache[id(handler)] = (handler, takes)
    return cached[1]


def requires(
    permission: Permission,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """A guard: the caller's role must hold ``permission`` (scope is checked by the service).

    Async on purpose: Litestar runs a plain-function guard in a worker thread, on every request.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal):
            raise Unauthorized("Authentication required")
        if not principal.can(permission):
            raise Forbidden(f"The role {principal.role!r} may not do this")

    guard.__name__ = f"requires_{permission.value}"
    return guard


async def account_member(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard for writes: any role of the account gets through, and the service answers.

    The service looks the object up first, so that one the caller may not see is a 404 and only then a role
    without the permission is a 403 (§2); a permission guard here would answer 403 before that lookup.
    """
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise Unauthorized("Authentication required")
    if not any(principal.can(permission) for permission in Permission):
        raise Forbidden(f"The role {principal.role!r} may not do this")


_allowed_query_cache: dict[int, tuple[BaseRouteHandler, frozenset[str]]] = {}


def _allowed_query(handler: BaseRouteHandler) -> frozenset[str]:
    cached = _allowed_query_cache.get(id(handler))
    if cached is None or cached[0] is not handler:  # see _body_types: ids are reused
        names: set[str] = set()
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if isinstance(kwarg, QueryParameter):
                names.add(kwarg.name or name)
            elif isinstance(kwarg, ParameterKwarg):
                if kwarg.header or kwarg.cookie:
                    continue
                names.add(kwarg.query or name)
            elif kwarg is None or isinstance(kwarg, KwargDefinition):
                names.add(name)
        cached = _allowed_query_cache[id(handler)] = (handler, frozenset(names))
    return cached[1]


async def reject_unknown_query(request: Request[Any, Any, Any]) -> None:
    """An unknown query parameter is a 400 naming it, not silently ignored."""
    if not request.query_params:
        return
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise BadRequest("A query parameter contains a NUL character")
    allowed = _allowed_query(request.route_handler)
    unknown = sorted(k for k in request.query_params if k not in allowed)
    if unknown:
        raise BadRequest(
            f"Unknown query parameter: {', '.join(unknown)}",
            errors=[FieldError(name, "is not a known query parameter", "unknown_parameter") for name in unknown],
        )


# Keyed by id(), so each entry keeps its handler: an id is only unique while its object lives, and a process that
# builds many apps (a test suite, a host app reloading) would otherwise read another handler's body type.
_body_types: dict[int, tuple[BaseRouteHandler, Any]] = {}


def _body_type(handler: BaseRouteHandler) -> Any:
    cached = _body_types.get(id(handler))
    if cached is None or cached[0] is not handler:
        field = getattr(handler, "parsed_data_field", None)
        annotation = field.annotation if field is not None else None
        is_struct = isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
        cached = _body_types[id(handler)] = (handler, annotation if is_struct else None)
    return cached[1]


async def validate_body(request: Request[Any, Any, Any]) -> None:
    """Decode JSON bodies strictly: ``"5"`` is not a number, and the error points at the field.

    Litestar converts leniently; this check runs first with msgspec in strict mode. No JSON body
    may carry a NUL character: PostgreSQL cannot store one in text.
    """
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        raw = await request.body()
        if b"\\u0000" in raw or b"\x00" in raw:
            raise ValidationFailed(
                "The request body contains a NUL character",
                errors=[FieldError("/", "text must not contain NUL (\\u0000) characters", "invalid_character")],
            )
    body_type = _body_type(request.route_handler)
    if body_type is None:
        return
    raw = await request.body()
    try:
        decoded = msgspec.json.decode(raw, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        error = field_error_from_msgspec(str(exc))
        raise ValidationFailed("The request body is invalid", errors=[error]) from None
    except (msgspec.DecodeError, RecursionError):
        raise MalformedRequest("The request body is not valid JSON, or is nested too deeply") from None
    # The one decode: Litestar reads the request's JSON from this state (its ``data`` gets this very struct,
    # msgspec's convert passes an instance of the type through) instead of decoding the body again.
    ScopeState.from_scope(request.scope).json = decoded


async def check_request(request: Request[Any, Any, Any]) -> None:
    """Every API request: no unknown query parameters, and a strictly valid body."""
    await reject_unknown_query(request)
    await validate_body(request)


#: The longest textual IP address (an IPv4-mapped IPv6 address); anything longer is junk, not an address.
_MAX_IP_TEXT = 45


def parse_ip(text: str) -> IPAddress | None:
    """One hop of ``X-Forwarded-For`` (or the peer) as an address; ``None`` for anything that is not one.

    Accepts ``1.2.3.4``, ``2001:db8::1``, ``[2001:db8::1]`` and a trailing port (``1.2.3.4:5678``,
    ``[2001:db8::1]:5678``), as proxies write them. An IPv6 zone (``fe80::1%eth0``) is refused: its text is
    free-form and would let a client smuggle anything into what is stored as evidence.
    """
    text = text.strip()
    if not text or len(text) > _MAX_IP_TEXT + 8:  # room for brackets and a port
        return None
    if text.startswith("["):
        text, bracket, port = text[1:].partition("]")
        if not bracket or (port and not (port.startswith(":") and port[1:].isdigit())):
            return None
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has at least two colons
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    if len(text) > _MAX_IP_TEXT or "%" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def resolve_client_ip(peer: str | None, forwarded: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client address: the socket peer, unless the peer is a trusted proxy.

    Then the ``X-Forwarded-For`` hops (all header lines, in order) are read right to left, skipping trusted
    proxies; the first untrusted hop is the client. A hop that is not an IP address ends the walk: nothing left
    of it can be believed, so the last trusted address (the proxy that wrote the junk) is the answer. The result
    is always an IP address in its canonical text, never what a client sent verbatim.
    """
    peer_ip = parse_ip(peer or "")
    if peer_ip is None:
        return "0.0.0.0"  # no TCP peer (a Unix socket): one shared bucket, no invented address

    def is_trusted(ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in trusted)

    if not trusted or not is_trusted(peer_ip):
        return str(peer_ip)
    client = peer_ip
    hops = [hop for line in forwarded for hop in line.split(",")]
    for hop in reversed(hops):
        ip = parse_ip(hop)
        if ip is None:
            break
        client = ip
        if not is_trusted(ip):
            break
    return str(client)


def client_ip(request: Request[Any, Any, Any], trusted: Sequence[Network]) -> str:
    """The one client address of a request, for rate limits and consent evidence (§1): see resolve_client_ip."""
    peer = request.client.host if request.client else None
    return resolve_client_ip(peer, request.headers.getall("x-forwarded-for", []), trusted)


async def check_public_request(request: Request[Any, Any, Any]) -> None:
    """Public JSON:API requests: media types first (415, 406), then the common checks."""
    await negotiate(request)
    await check_request(request)
