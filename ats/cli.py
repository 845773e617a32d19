"""The ``ats`` command: run the service, migrate, and administer accounts, users, keys and the audit log."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from . import audit, migrate
from .auth import Principal
from .embedded import EmbeddedServices, ensure_services
from .runtime import Runtime
from .settings import Settings, SettingsError, load_settings

DEMO_EMAIL = "admin@demo.example"


def _prepare(args: argparse.Namespace) -> tuple[Settings, EmbeddedServices]:
    settings = load_settings()
    settings, services = ensure_services(settings)
    return settings, services


def _export_env(settings: Settings) -> None:
    """Child processes (uvicorn workers) read the same settings from the environment."""
    for name, value in (
        ("ATS_DATABASE_URL", settings.database_url),
        ("ATS_S3_ENDPOINT_URL", settings.s3_endpoint_url),
        ("ATS_S3_ACCESS_KEY_ID", settings.s3_access_key_id),
        ("ATS_S3_SECRET_ACCESS_KEY", settings.s3_secret_access_key),
    ):
        if value:
            os.environ[name] = value


async def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    runtime = Runtime.create(settings)
    try:
        return await work(runtime)
    finally:
        await runtime.engine.dispose()


def _run_async(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    return asyncio.run(_with_runtime(settings, work))


async def _create_demo_account(runtime: Runtime) -> int:
    from .services import accounts

    async with runtime.transaction() as session:
        if await accounts.first_account(session) is not None:
            return 0
        password = secrets.token_urlsafe(12)
        account, _ = await accounts.create_account(
            session, "Demo", admin_email=DEMO_EMAIL, admin_password=password, admin_name="Demo Admin"
        )
    print(f"Created the demo account {account.id}.")
    print(f"  admin login: {DEMO_EMAIL}  password: {password}")
    return 0


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    import uvicorn

    # Ctrl-C or SIGTERM stop the server; the finally below then stops the services it started.
    signal.signal(signal.SIGTERM, _interrupt)
    settings, services = _prepare(args)
    try:
        migrate.upgrade(str(settings.database_url))
        if settings.demo_account:
            _run_async(settings, _create_demo_account)
        _export_env(settings)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        print(f"Serving on http://{settings.host}:{settings.port} (OpenAPI at /schema)", flush=True)
        uvicorn.run(
            "ats.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers if settings.workers > 1 else None,
            log_level="warning",
            access_log=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C must not leave half-stopped services behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if services.started:
            print("Stopping embedded services…", flush=True)
        services.stop()
    return 0


def _with_services(args: argparse.Namespace, work: Callable[[Settings], int]) -> int:
    settings, services = _prepare(args)
    try:
        return work(settings)
    finally:
        services.stop()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    def work(settings: Settings) -> int:
        migrate.upgrade(str(settings.database_url))
        print("Database is at the latest revision.")
        return 0

    return _with_services(args, work)


def cmd_accounts_create(args: argparse.Namespace) -> int:
    from .services import accounts

    async def work(runtime: Runtime) -> int:
        async with runtime.transaction() as session:
            account, admin = await accounts.create_account(
                session, args.name, admin_email=args.admin_email, admin_password=args.admin_password
            )
        print(json.dumps({"account_id": str(account.id), "admin_id": str(admin.id)}))
        return 0

    return _with_services(args, lambda s: _run_async(s, work))


def cmd_users_create(args: argparse.Namespace) -> int:
    from .services import users

    async def work(runtime: Runtime) -> int:
        async with runtime.transaction() as session:
            user = await users.create_user(
                session,
                Principal.system(uuid.UUID(args.account)),
                email=args.email,
                name=args.name or args.email.split("@")[0],
                role=args.role,
                password=args.password,
            )
        print(json.dumps({"user_id": str(user.id)}))
        return 0

    return _with_services(args, lambda s: _run_async(s, work))


def cmd_api_keys_create(args: argparse.Namespace) -> int:
    from .services import api_keys

    async def work(runtime: Runtime) -> int:
        async with runtime.transaction() as session:
            key, secret = await api_keys.create_api_key(
                session,
                Principal.system(uuid.UUID(args.account)),
                name=args.name,
                role=args.role,
                ttl_seconds=runtime.settings.api_key_ttl,
            )
        print(json.dumps({"api_key_id": str(key.id), "key": secret}))
        return 0

    return _with_services(args, lambda s: _run_async(s, work))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    async def work(runtime: Runtime) -> int:
        async with runtime.transaction() as session:
            accounts = [uuid.UUID(args.account)] if args.account else await audit.accounts_with_events(session)
            broken = 0
            for account_id in accounts:
                result = await audit.verify_account(session, account_id)
                line: dict[str, Any] = {
                    "account_id": str(account_id),
                    "ok": result.ok,
                    "checked": result.checked,
                    "head": result.head,
                }
                if not result.ok:
                    broken += 1
                    line.update(broken_at=result.broken_at, reason=result.reason)
                print(json.dumps(line))
        return 1 if broken else 0

    return _with_services(args, lambda s: _run_async(s, work))


def cmd_documents_sweep(args: argparse.Namespace) -> int:
    from .services import documents

    async def work(runtime: Runtime) -> int:
        result = await documents.sweep(runtime.uow, runtime.documents, upload_ttl=runtime.settings.upload_ttl)
        print(json.dumps({"documents_removed": result.documents, "idempotency_keys_removed": result.idempotency_keys}))
        return 0

    return _with_services(args, lambda s: _run_async(s, work))


def cmd_retention_run(args: argparse.Namespace) -> int:
    from .services import retention

    async def work(runtime: Runtime) -> int:
        report = await retention.run(
            runtime.uow, runtime.documents, retention.Policy.of(runtime.settings), account_id=None, dry_run=args.dry_run
        )
        print(
            json.dumps(
                {
                    "dry_run": report.dry_run,
                    "count": len(report.erased),
                    "erased": [str(i) for i in report.erased],
                    "held": report.held,
                    "storage_pending": report.storage_pending,
                }
            )
        )
        return 0

    return _with_services(args, lambda s: _run_async(s, work))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ats", description="Applicant tracking backend")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve the API (embedded services unless ATS_DATABASE_URL / ATS_S3_* are set)")
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply every migration")

    acc = sub.add_parser("accounts").add_subparsers(dest="accounts_command", required=True)
    create = acc.add_parser("create", help="create an account with its first admin")
    create.add_argument("name")
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-password", required=True)

    usr = sub.add_parser("users").add_subparsers(dest="users_command", required=True)
    ucreate = usr.add_parser("create", help="create a user in an account")
    ucreate.add_argument("--account", required=True)
    ucreate.add_argument("--email", required=True)
    ucreate.add_argument("--role", required=True)
    ucreate.add_argument("--password", required=True)
    ucreate.add_argument("--name")

    keys = sub.add_parser("api-keys").add_subparsers(dest="keys_command", required=True)
    kcreate = keys.add_parser("create", help="create an API key (printed once)")
    kcreate.add_argument("--account", required=True)
    kcreate.add_argument("--name", required=True)
    kcreate.add_argument("--role", required=True)

    docs = sub.add_parser("documents").add_subparsers(dest="documents_command", required=True)
    docs.add_parser("sweep", help="remove uploads unfinished after ATS_UPLOAD_TTL (rows and objects)")

    ret = sub.add_parser("retention").add_subparsers(dest="retention_command", required=True)
    rrun = ret.add_parser("run", help="erase what the retention rules allow (every account)")
    rrun.add_argument("--dry-run", action="store_true", help="only report what would be erased")

    aud = sub.add_parser("audit").add_subparsers(dest="audit_command", required=True)
    verify = aud.add_parser("verify", help="check every account's hash chain; exit 1 on a break")
    verify.add_argument("--account")
    return parser


COMMANDS: dict[tuple[str, ...], Callable[[argparse.Namespace], int]] = {
    ("run",): cmd_run,
    ("db", "upgrade"): cmd_db_upgrade,
    ("accounts", "create"): cmd_accounts_create,
    ("users", "create"): cmd_users_create,
    ("api-keys", "create"): cmd_api_keys_create,
    ("audit", "verify"): cmd_audit_verify,
    ("documents", "sweep"): cmd_documents_sweep,
    ("retention", "run"): cmd_retention_run,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key: tuple[str, ...] = (args.command,)
    for attr in (
        "db_command",
        "accounts_command",
        "users_command",
        "keys_command",
        "audit_command",
        "documents_command",
    ):
        if getattr(args, attr, None):
            key += (getattr(args, attr),)
    try:
        return COMMANDS[key](args)
    except SettingsError as exc:
        print(f"ats: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from .errors import DomainError

        if isinstance(exc, DomainError):
            detail = "; ".join([exc.detail, *(f"{e.pointer}: {e.detail}" for e in exc.errors)])
            print(f"ats: {detail}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
