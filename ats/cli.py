"""The ``ats`` command (click): serve, migrate, manage the embedded services, administer accounts and data.

Each command parses its options, makes one call into ``ats.services`` (or ``ats.audit``, ``ats.migrate``,
``ats.embedded``) and prints its result as one JSON line, so scripts can read it.

Which services a command uses. With ``ATS_DATABASE_URL`` / ``ATS_S3_ENDPOINT_URL`` set, those. Without them:

- every command uses the embedded PostgreSQL (and, when it needs S3, SeaweedFS) of ``ATS_DATA_DIR``, starting
  them when they are not running (contract §0); ``services start`` leaves what it started running, every other
  command stops what it started when it ends (a one-off command leaves the machine as it found it);
- ``db upgrade`` and ``run`` migrate as the owner role (``ATS_DATABASE_OWNER_URL``; the embedded ``ats_owner``)
  and then grant the app role (``ATS_DATABASE_URL``; the embedded ``ats_app``) its privileges.

Exit codes: 0 done; 1 ``audit verify`` found a broken chain; 2 any failure (bad usage, bad settings, a domain
error, an un-migrated or unreachable database, S3 down, and any unexpected exception); 130 interrupted. Every
failure is one line on stderr naming the problem and never a traceback, which could carry SQL or personal
data; ``ats --traceback …`` shows it for an unexpected exception.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import DomainError, NotFound
from .roles import ROLES
from .settings import Settings, SettingsError, load_settings

# SQLAlchemy, boto3 and Alembic are imported where used: a usage error or `--help` answers at once.
if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import AsyncSession

    from .auth import Principal
    from .embedded import EmbeddedServices
    from .runtime import Runtime

DEMO_EMAIL = "admin@demo.example"

T = TypeVar("T")


class Failure(Exception):
    """A command cannot go on; the message is the one line the operator reads."""


_options = {"traceback": False}


# --- services and runtime -------------------------------------------------------------------------


def _services(settings: Settings, *, s3: bool) -> tuple[Settings, EmbeddedServices]:
    """Settings naming the services the command uses, starting the embedded ones it needs that do not run.

    The caller stops what this started (``EmbeddedServices.stop``) when the command ends.
    """
    from .embedded import ensure_services

    return ensure_services(settings, s3=s3)


async def _check_migrated(runtime: Runtime) -> None:
    """Fail with one line unless the database is at this code's head revision."""
    from . import migrate

    async with runtime.engine.connect() as conn:
        problem = await migrate.schema_problem(conn)
    if problem is not None:
        raise Failure(problem)


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work`` on a runtime over a migrated database, then close its connections."""

    from .runtime import Runtime

    async def main() -> T:
        runtime = Runtime.create(settings)
        try:
            await _check_migrated(runtime)
            return await work(runtime)
        finally:
            await runtime.engine.dispose()

    return asyncio.run(main())


def _admin(work: Callable[[Runtime], Awaitable[T]], *, s3: bool = False) -> T:
    """Settings from the environment, the services (started if embedded and not running), then ``work``."""
    settings, started = _services(load_settings(), s3=s3)
    try:
        return _with_runtime(settings, work)
    finally:
        started.stop()


async def _system(session: AsyncSession, account_id: uuid.UUID) -> Principal:
    """The system principal of an account that exists."""
    from .auth import Principal
    from .services import accounts

    if await accounts.get_account(session, account_id) is None:
        raise NotFound(f"no account {account_id}")
    return Principal.system(account_id)


def _emit(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data))


# --- commands -------------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--traceback", is_flag=True, help="Show the traceback of an unexpected error.")
def cli(traceback: bool) -> None:
    """Applicant tracking backend. Settings come from ATS_* environment variables (see README)."""
    _options["traceback"] = traceback


async def _create_demo_account(runtime: Runtime) -> None:
    from .services import accounts

    async with runtime.transaction() as session:
        if await accounts.first_account(session) is not None:
            return
        password = secrets.token_urlsafe(12)
        account, _ = await accounts.create_account(
            session, "Demo", admin_email=DEMO_EMAIL, admin_password=password, admin_name="Demo Admin"
        )
    click.echo(f"Created the demo account {account.id}.")
    click.echo(f"  admin login: {DEMO_EMAIL}  password: {password}")


def _export_env(settings: Settings) -> None:
    """Child processes (uvicorn workers) read the same settings from the environment."""
    import os

    for name, value in (
        ("ATS_DATABASE_URL", settings.database_url),
        ("ATS_S3_ENDPOINT_URL", settings.s3_endpoint_url),
        ("ATS_S3_ACCESS_KEY_ID", settings.s3_access_key_id),
        ("ATS_S3_SECRET_ACCESS_KEY", settings.s3_secret_access_key),
    ):
        if value:
            os.environ[name] = value


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@cli.command()
def run() -> None:
    """Serve the API (starting the embedded services unless ATS_DATABASE_URL / ATS_S3_* are set)."""
    import uvicorn

    from . import migrate
    from .embedded import ensure_services

    # Ctrl-C or SIGTERM stop the server; the finally below then stops the services it started.
    signal.signal(signal.SIGTERM, _interrupt)
    settings, services = ensure_services(load_settings())
    try:
        migrate.upgrade_and_grant(str(settings.database_url), settings.database_owner_url)
        if settings.demo_account:
            _with_runtime(settings, _create_demo_account)
        _export_env(settings)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        click.echo(f"Serving on http://{settings.host}:{settings.port} (OpenAPI at /schema)")
        uvicorn.run(
            "ats.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers if settings.workers > 1 else None,
            log_level="warning",
            access_log=False,
            # The client address is the socket peer; X-Forwarded-For counts only from ATS_TRUSTED_PROXIES
            # (ats.api.deps.client_ip). uvicorn's default would believe it from 127.0.0.1 and overwrite the peer.
            proxy_headers=False,
            http="ats.http_protocol:HttpProtocol",  # a URL over 64 KiB reaches the app, which answers 414
        )
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not leave half-stopped services behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if services.started:
            click.echo("Stopping embedded services…")
        services.stop()


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration as the owner role, then grant the app role its privileges.

    ATS_DATABASE_OWNER_URL is the owner (else ATS_DATABASE_URL's role migrates and nothing is granted);
    without ATS_DATABASE_URL the embedded PostgreSQL is used, started meanwhile if it is not running.
    """
    from . import migrate

    settings, started = _services(load_settings(), s3=False)
    try:
        migrate.upgrade_and_grant(str(settings.database_url), settings.database_owner_url)
    finally:
        started.stop()
    click.echo("The database is at the latest revision.")


@cli.group()
def services() -> None:
    """The embedded PostgreSQL and S3 of ATS_DATA_DIR, without serving."""


def _print_status(settings: Settings) -> None:
    from .embedded import running_services

    found = running_services(settings)
    if found.postgres is None:
        click.echo("postgres: external (ATS_DATABASE_URL)")
    elif "postgres" in found.started:
        pid = found.postgres.running_pid()
        click.echo(f"postgres: running on 127.0.0.1:{found.postgres.port} (pid {pid}, data {found.postgres.pgdata})")
    else:
        click.echo(f"postgres: stopped (data {found.postgres.pgdata})")
    if found.s3 is None:
        click.echo("s3: external (ATS_S3_ENDPOINT_URL)")
    elif "s3" in found.started:
        pid = found.s3.running_pid()
        click.echo(f"s3: running on {found.s3.endpoint_url} (pid {pid}, data {found.s3.root / 's3'})")
    else:
        click.echo(f"s3: stopped (data {found.s3.root / 's3'})")


@services.command("start")
def services_start() -> None:
    """Start the embedded services that are not running, and leave them running."""
    from .embedded import ensure_services

    settings = load_settings()
    ensure_services(settings)
    _print_status(settings)


@services.command("stop")
def services_stop() -> None:
    """Stop the embedded services of ATS_DATA_DIR, whichever process started them.

    With ATS_EMBEDDED_FAST (throwaway data) SeaweedFS is killed rather than waited for (~15 s).
    """
    from .embedded import running_services

    settings = load_settings()
    found = running_services(settings)
    found.stop(kill_s3=settings.embedded_fast)
    _print_status(settings)


@services.command("status")
def services_status() -> None:
    """Say whether each embedded service runs, and where."""
    _print_status(load_settings())


@cli.group()
def accounts() -> None:
    """Accounts (tenants)."""


@accounts.command("create")
@click.argument("name")
@click.option("--admin-email", required=True)
@click.option("--admin-password", required=True)
def accounts_create(name: str, admin_email: str, admin_password: str) -> None:
    """Create an account with its first admin."""
    from .services import accounts as service

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.transaction() as session:
            account, admin = await service.create_account(
                session, name, admin_email=admin_email, admin_password=admin_password
            )
        return {"account_id": str(account.id), "admin_id": str(admin.id)}

    _emit(_admin(work))


@cli.group()
def users() -> None:
    """Users of an account."""


@users.command("create")
@click.option("--account", "account_id", type=click.UUID, required=True)
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password", required=True)
@click.option("--name", help="defaults to the part of the email before @")
def users_create(account_id: uuid.UUID, email: str, role: str, password: str, name: str | None) -> None:
    """Create a user in an account."""
    from .services import users as service

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.transaction() as session:
            user = await service.create_user(
                session,
                await _system(session, account_id),
                email=email,
                name=name or email.split("@")[0],
                role=role,
                password=password,
            )
        return {"user_id": str(user.id)}

    _emit(_admin(work))


@cli.group("api-keys")
def api_keys() -> None:
    """API keys of an account."""


@api_keys.command("create")
@click.option("--account", "account_id", type=click.UUID, required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
def api_keys_create(account_id: uuid.UUID, name: str, role: str) -> None:
    """Create an API key; its secret is printed once."""
    from .services import api_keys as service

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.transaction() as session:
            key, secret = await service.create_api_key(
                session,
                await _system(session, account_id),
                name=name,
                role=role,
                ttl_seconds=runtime.settings.api_key_ttl,
            )
        return {"api_key_id": str(key.id), "key": secret}

    _emit(_admin(work))


@cli.group("audit")
def audit_group() -> None:
    """The audit log."""


def _verify_line(account_id: uuid.UUID | str, result: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"account_id": str(account_id), "ok": result.ok, "checked": result.checked}
    line.update(head=result.head, sealed_through=result.sealed_through, unsealed=result.unsealed)
    if not result.ok:
        line.update(broken_at=result.broken_at, reason=result.reason)
    return line


@audit_group.command("verify")
@click.option("--account", "account_id", type=click.UUID, help="one account (default: every account)")
@click.option("--offline", is_flag=True, help="verify an export against checkpoints, without database or S3")
@click.option("--checkpoints", "checkpoints_dir", type=click.Path(path_type=Path), help="--offline: checkpoints")
@click.option("--events", "events_file", type=click.Path(path_type=Path), help="--offline: `ats audit export` output")
@click.option("--public-key", "public_key", help="--offline: the key `ats audit public-key` printed, or its file")
@click.pass_context
def audit_verify(
    ctx: click.Context,
    account_id: uuid.UUID | None,
    offline: bool,
    checkpoints_dir: Path | None,
    events_file: Path | None,
    public_key: str | None,
) -> None:
    """Check each account's hash chain against its signed checkpoints; one line per account, exit 1 on a break."""
    if offline:
        _audit_verify_offline(ctx, account_id, checkpoints_dir, events_file, public_key)
        return
    if checkpoints_dir or events_file or public_key:
        raise click.UsageError("--checkpoints, --events and --public-key go with --offline")
    from . import audit_seal

    async def work(runtime: Runtime) -> int:
        if account_id is not None:
            async with runtime.transaction() as session:
                await _system(session, account_id)
        store = audit_seal.checkpoint_store(runtime.documents.client, runtime.settings)
        ids = [account_id] if account_id is not None else await audit_seal.accounts_to_verify(runtime.uow, store)
        public = audit_seal.signing_key(runtime.settings).public_key()
        broken = 0
        for one in ids:
            result = await audit_seal.verify_account(runtime.uow, store, public, one)
            broken += not result.ok
            _emit(_verify_line(one, result))
        return broken

    if _admin(work, s3=True):
        ctx.exit(1)


def _audit_verify_offline(
    ctx: click.Context,
    account_id: uuid.UUID | None,
    checkpoints_dir: Path | None,
    events_file: Path | None,
    public_key: str | None,
) -> None:
    from . import audit_seal

    if checkpoints_dir is None or events_file is None or public_key is None:
        raise click.UsageError("--offline needs --checkpoints DIR, --events FILE and --public-key KEY")
    key_text = Path(public_key).read_text() if Path(public_key).is_file() else public_key
    try:
        public = audit_seal.parse_public_key(key_text)
        results = audit_seal.verify_offline(
            audit_seal.read_checkpoints(checkpoints_dir), audit_seal.read_export(events_file), public
        )
    except ValueError as exc:
        raise Failure(str(exc)) from None
    if account_id is not None:
        results = {str(account_id): results.get(str(account_id), audit_seal.check(account_id, [], [], public))}
    broken = 0
    for one, result in results.items():
        broken += not result.ok
        _emit(_verify_line(one, result))
    if broken:
        ctx.exit(1)


@audit_group.command("seal")
def audit_seal_command() -> None:
    """Write a signed checkpoint to S3 for every account with new events (as the server does periodically)."""
    from .worker import seal_audit

    sealed = _admin(seal_audit, s3=True)
    for one in sealed:
        _emit({"account_id": str(one.account_id), "seq": one.seq, "head": one.head, "key": one.key})
    if not sealed:
        _emit({"sealed": 0})


@audit_group.command("public-key")
def audit_public_key() -> None:
    """Print the public key that checks the checkpoints' signatures (for ``verify --offline``)."""
    from . import audit_seal

    key = audit_seal.signing_key(load_settings())
    _emit({"algorithm": "Ed25519", "public_key": audit_seal.public_key_text(key)})


@audit_group.command("export")
@click.option("--account", "account_id", type=click.UUID, required=True)
def audit_export(account_id: uuid.UUID) -> None:
    """Print an account's events as JSON lines, in sequence order (for ``verify --offline``)."""
    from . import audit

    async def work(runtime: Runtime) -> None:
        async with runtime.transaction() as session:
            await _system(session, account_id)
            rows = await session.stream_scalars(
                audit.select_account_rows(account_id), execution_options={"yield_per": 1000}
            )
            async for row in rows:
                click.echo(json.dumps(audit.record_of(row), sort_keys=True))

    _admin(work)


@cli.group()
def documents() -> None:
    """Stored documents."""


@documents.command("sweep")
def documents_sweep() -> None:
    """Finish pending erasures in S3, then remove uploads unfinished after ATS_UPLOAD_TTL (as the server does)."""
    from .worker import run_once

    erased, swept = _admin(run_once, s3=True)
    _emit(
        {
            "erasure_objects_removed": erased,
            "documents_removed": swept.documents,
            "idempotency_keys_removed": swept.idempotency_keys,
        }
    )
    if erased is None:
        raise Failure("S3 refused some pending erasures: they stay pending and are retried later")


@cli.group()
def retention() -> None:
    """Retention of applicant data."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="only report what would be erased")
def retention_run(dry_run: bool) -> None:
    """Erase what the retention rules allow, in every account."""
    from .services import retention as service

    async def work(runtime: Runtime) -> Any:
        policy = service.Policy.of(runtime.settings)
        return await service.run(runtime.uow, runtime.documents, policy, account_id=None, dry_run=dry_run)

    report = _admin(work, s3=True)
    _emit(
        {
            "dry_run": report.dry_run,
            "count": len(report.erased),
            "erased": [str(i) for i in report.erased],
            "held": report.held,
            "storage_pending": report.storage_pending,
        }
    )


# --- the one error boundary -----------------------------------------------------------------------


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.splitlines() if line.strip()), "")


def _describe_database_error(exc: DBAPIError) -> str:
    import psycopg.errors
    from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

    from .db import constraint_name
    from .migrate import NOT_MIGRATED

    orig = exc.orig
    if isinstance(orig, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return NOT_MIGRATED
    if isinstance(orig, psycopg.errors.InsufficientPrivilege):
        # e.g. migrating as the app's role: only the owner (ATS_DATABASE_OWNER_URL) may change the schema
        return "the database role lacks a privilege: migrations run as the owner role set in ATS_DATABASE_OWNER_URL"
    if isinstance(exc, IntegrityError):
        return f"the database refused the change ({type(orig).__name__} on {constraint_name(exc) or 'a constraint'})"
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        # libpq's own words (host, port, "connection refused", "password authentication failed"): no SQL.
        return f"the database is unreachable: {_first_line(str(orig))}"
    return f"the database failed: {type(orig).__name__}"


def describe(exc: BaseException) -> str:
    """The one line that names what went wrong, without SQL, parameters or personal data."""
    if isinstance(exc, Failure | SettingsError):
        return _first_line(str(exc))
    if isinstance(exc, DomainError):
        details = [f"{error.pointer.lstrip('/')}: {error.detail}" for error in exc.errors]
        return "; ".join([exc.detail, *details])
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from ats.storage import StorageUnavailable

    if isinstance(exc, DBAPIError):
        return _describe_database_error(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"the database failed: {type(exc).__name__}"
    if isinstance(exc, StorageUnavailable):
        return "S3 is unavailable; try again when it answers"
    if isinstance(exc, subprocess.CalledProcessError):
        output = exc.stderr or exc.stdout or b""
        said = _first_line(output.decode(errors="replace") if isinstance(output, bytes) else output)
        return f"{Path(str(exc.cmd[0])).name} failed (exit {exc.returncode}){': ' + said if said else ''}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}{': ' + str(exc.filename) if exc.filename else ''}"
    if isinstance(exc, RuntimeError) and type(exc) is RuntimeError:
        return _first_line(str(exc))  # the embedded services' own messages (weed did not start, …)
    return f"unexpected {type(exc).__name__} (run `ats --traceback …` to see where)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; map every failure to one line on stderr and exit code 2."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="ats", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return 2
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "ats"
        click.echo(f"{where}: {exc.format_message()} (see --help)", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"ats: {exc.format_message()}", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("ats: interrupted", err=True)
        return 130
    except Exception as exc:
        if _options["traceback"]:
            raise
        click.echo(f"ats: {describe(exc)}", err=True)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
