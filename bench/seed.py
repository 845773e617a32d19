"""The benchmarks' data: the list's large account (set-based SQL), and the GDPR bench's documents and rows.

Everything after the account, its admin and its postings is plain SQL over ``generate_series``:
one INSERT … SELECT per table, with the secondary indexes of the two big tables dropped during
the load and rebuilt from their own definitions afterwards (the classic bulk-load recipe), then
``VACUUM (ANALYZE)`` so the visibility map is set as autovacuum would leave it on a live table.
"""

from __future__ import annotations

import os
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from ats.runtime import Runtime
from ats.settings import Settings

from .harness import ADMIN_NAME

MIB = 1024 * 1024
STATUSES = ("new", "screening", "interview", "offer", "hired", "rejected", "withdrawn")

# Names that occur a handful of times in the whole table, for the search benchmark.
RARE_NAMES = (
    ("Zebulon", "Quixwhistle"),
    ("Ottoline", "Quixwhistle"),
    ("Ignatius", "Fflamboyd"),
    ("Perpetua", "Vexbury"),
)
RARE_SEARCH = "quixwhistle"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    """
Anna Ben Clara David Emma Felix Greta Hannah Ida Jonas Karl Lena Mia Noah Olivia Paul Quinn
Rosa Sophie Tom Ulla Valentin Wiebke Xaver Yara Zoe Ahmed Aisha Carlos Chen Dmitri Elif
Fatima Giulia Hiroshi Ingrid Jamal Katarzyna Lars Lucía Mateo Mehmet Nadia Oskar Priya
Rafael Sven Tanja Yusuf Zofia Amelia Arjun Beatriz Björn Camille Diego Eva Fernando Hana
Isabel Jakub Jörg Leonie Liam Malik Marta Nils Noor Pedro Ravi Sara Sören Thi Viktor Wei
Yasmin Ali Chloe Daniel Elena Finn Lea
"""
)
LAST_NAMES = _words(
    """
Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter
Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt
Werner Krause Meier Lehmann Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez
Martinez Hernández Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee
Perez Thompson White Harris Sánchez Clark Ramirez Lewis Robinson Walker Young Allen King
Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell
Mitchell Carter Roberts Kowalski Nowak Jansen Larsen Rossi Russo Bianchi Dubois Lefebvre
Yılmaz Kaya Demir Öztürk Novak Horvat Popescu Ivanova Petrov Tanaka
"""  # noqa: RUF001 - a Turkish name with a dotless i
)
CITIES = _words(
    """
Berlin Hamburg München Köln Frankfurt Stuttgart Düsseldorf Leipzig Dresden Hannover Nürnberg
Bremen Wien Zürich Amsterdam London Paris Madrid Lisboa Warszawa Praha København Stockholm
Oslo Dublin
"""
)
STREETS = _words(
    """
Hauptstraße Bahnhofstraße Gartenweg Lindenallee Schillerstraße Goethestraße Marktplatz
Kirchgasse Bergstraße Waldweg Rosenweg Friedrichstraße
"""
)
COUNTRIES = ("DE", "DE", "DE", "DE", "AT", "CH", "NL", "GB", "FR", "ES", "PL")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example", "post.example")
SOURCES = ("linkedin", "website", "referral", "indeed", "stepstone", "career_fair")
JOB_TITLES = (
    "Backend Engineer",
    "Frontend Engineer",
    "Data Analyst",
    "Product Manager",
    "UX Designer",
    "Sales Manager",
    "Account Executive",
    "HR Generalist",
    "Site Reliability Engineer",
    "Customer Success Manager",
)
JOB_PLACES = ("Berlin", "Hamburg", "Munich", "Remote", "Vienna")
COVER_LETTER = (
    "Dear hiring team, I am writing to apply for this position. Over the last years I have worked on "
    "teams that ship often and care about quality, and I would love to bring that experience to yours. "
    "I am available for an interview at your convenience. Kind regards"
)


@dataclass
class SeedResult:
    account_id: uuid.UUID
    admin_id: uuid.UUID
    job_ids: list[uuid.UUID]
    rows: int
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.timings.values())


def postings(n: int = 50) -> list[dict[str, str]]:
    """``n`` postings (one in five closed), for ``harness.create_account``."""
    return [
        {
            "title": f"{JOB_TITLES[i % len(JOB_TITLES)]} ({JOB_PLACES[i % len(JOB_PLACES)]}) #{i + 1}",
            "description": "Join us.",
            "location": JOB_PLACES[i % len(JOB_PLACES)],
            "department": "Engineering" if i % 3 else "Business",
            "status": "published" if i % 5 else "closed",
        }
        for i in range(n)
    ]


APPLICATIONS_SQL = """
INSERT INTO applications (
    id, account_id, job_id, candidate_id, status, previous_status, status_changed_at,
    name, salutation, first_name, last_name, email, phone,
    street, postal_code, city, country, cover_letter, custom_fields, source,
    consent_privacy_policy, consent_privacy_policy_version, consent_talent_pool, consented_at, consent_ip,
    legal_hold, rating_total, rating_count, version, created_by, created_at, updated_at
)
SELECT
    gen_random_uuid(), %(account_id)s, s.job_id, gen_random_uuid(), s.status,
    CASE WHEN s.status IN ('rejected', 'withdrawn') THEN s.before_close END,
    s.changed_at,
    s.first || ' ' || s.last,
    (ARRAY['Ms', 'Mr', 'Mx', NULL, NULL])[1 + (s.n %% 5)],
    s.first, s.last,
    regexp_replace(
        translate(lower(s.first || '.' || s.last), 'äöüÄÖÜßéèáíóúñçøåłśı', 'aouaouseeaiouncoalsi'),
        '[^a-z.]', '', 'g'
    ) || s.n || '@' || (%(domains)s::text[])[1 + (s.n %% %(n_domains)s)],
    '+49 ' || (150 + s.n %% 50) || ' ' || lpad(((s.n::bigint * 7919) %% 10000000)::text, 7, '0'),
    (%(streets)s::text[])[1 + (s.n %% %(n_streets)s)] || ' ' || (1 + s.n %% 180),
    lpad(((s.n * 31) %% 99999)::text, 5, '0'),
    (%(cities)s::text[])[1 + (s.n %% %(n_cities)s)],
    (%(countries)s::text[])[1 + (s.n %% %(n_countries)s)],
    CASE WHEN s.r_extra < 0.4 THEN %(cover_letter)s END,
    '{}'::jsonb,
    CASE WHEN s.public THEN (%(sources)s::text[])[1 + (s.n %% %(n_sources)s)] ELSE 'recruiter' END,
    s.public,
    CASE WHEN s.public THEN '2024-01' END,
    s.public AND s.r_extra < 0.3,
    CASE WHEN s.public THEN s.created_at END,
    CASE WHEN s.public THEN '203.0.113.' || (s.n %% 250 + 1) END,
    s.n %% 5000 = 0,
    CASE WHEN s.r_extra > 0.8 THEN (1 + s.n %% 3) * (1 + s.n %% 5) ELSE 0 END,
    CASE WHEN s.r_extra > 0.8 THEN 1 + s.n %% 3 ELSE 0 END,
    1,
    CASE WHEN s.public THEN NULL ELSE %(admin_id)s::uuid END,
    s.created_at,
    s.changed_at
FROM (
    SELECT
        g.n, g.created_at, g.r_extra, g.r_source < 0.7 AS public,
        (%(jobs)s::uuid[])[1 + floor(power(g.r_job, 1.4) * %(n_jobs)s)::int] AS job_id,
        COALESCE(
            (%(rare_first)s::text[])[array_position(%(rare_rows)s::int[], g.n)],
            (%(first)s::text[])[1 + floor(g.r_first * %(n_first)s)::int]
        ) AS first,
        COALESCE(
            (%(rare_last)s::text[])[array_position(%(rare_rows)s::int[], g.n)],
            (%(last)s::text[])[1 + floor(g.r_last * %(n_last)s)::int]
        ) AS last,
        CASE
            WHEN g.r_status < 0.30 THEN 'new'
            WHEN g.r_status < 0.50 THEN 'screening'
            WHEN g.r_status < 0.62 THEN 'interview'
            WHEN g.r_status < 0.66 THEN 'offer'
            WHEN g.r_status < 0.69 THEN 'hired'
            WHEN g.r_status < 0.97 THEN 'rejected'
            ELSE 'withdrawn'
        END AS status,
        (ARRAY['new', 'new', 'screening', 'screening', 'interview', 'offer'])[1 + g.n %% 6] AS before_close,
        CASE
            WHEN g.r_status < 0.30 THEN g.created_at
            ELSE g.created_at + g.r_extra * least(interval '40 days', now() - g.created_at)
        END AS changed_at
    FROM (
        SELECT
            n,
            now() - random() * interval '730 days' AS created_at,
            random() AS r_status, random() AS r_first, random() AS r_last,
            random() AS r_job, random() AS r_source, random() AS r_extra
        FROM generate_series(1, %(rows)s) AS n
    ) AS g
) AS s
"""

# Every seeded email is distinct: each application's person is a candidate of their own (its candidate_id).
CANDIDATES_SQL = """
INSERT INTO candidates (
    id, account_id, name, salutation, first_name, last_name, email, emails, phones,
    street, postal_code, city, country, source, consent_privacy_policy, consent_privacy_policy_version,
    consent_talent_pool, consented_at, consent_ip, created_at, updated_at
)
SELECT a.candidate_id, a.account_id, a.name, a.salutation, a.first_name, a.last_name, a.email, ARRAY[a.email],
       ARRAY['+' || regexp_replace(a.phone, '[^0-9]', '', 'g')], a.street, a.postal_code, a.city, a.country,
       a.source, a.consent_privacy_policy, a.consent_privacy_policy_version, a.consent_talent_pool,
       a.consented_at, a.consent_ip, a.created_at, a.updated_at
FROM applications AS a WHERE a.account_id = %(account_id)s
"""

# The first entry of every application, then for moved ones the move (and a close after it).
HISTORY_SQL = """
INSERT INTO status_history (
    id, account_id, application_id, status, from_status, changed_at,
    changed_by_id, changed_by_name, note, reason
)
SELECT gen_random_uuid(), a.account_id, a.id, 'new', NULL, a.created_at,
       a.created_by, CASE WHEN a.created_by IS NOT NULL THEN %(admin_name)s END, NULL, NULL
FROM applications AS a WHERE a.account_id = %(account_id)s
UNION ALL
SELECT gen_random_uuid(), a.account_id, a.id, a.status, 'new', a.status_changed_at,
       %(admin_id)s, %(admin_name)s, NULL, NULL
FROM applications AS a
WHERE a.account_id = %(account_id)s AND a.status IN ('screening', 'interview', 'offer', 'hired')
UNION ALL
SELECT gen_random_uuid(), a.account_id, a.id, a.previous_status, 'new',
       a.created_at + (a.status_changed_at - a.created_at) / 2,
       %(admin_id)s, %(admin_name)s, NULL, NULL
FROM applications AS a
WHERE a.account_id = %(account_id)s AND a.status IN ('rejected', 'withdrawn') AND a.previous_status <> 'new'
UNION ALL
SELECT gen_random_uuid(), a.account_id, a.id, a.status, a.previous_status, a.status_changed_at,
       %(admin_id)s, %(admin_name)s,
       CASE WHEN a.status = 'rejected' AND a.rating_count > 0 THEN 'Discussed with the team.' END,
       CASE WHEN a.status = 'rejected' THEN 'Not a fit for the role' ELSE 'Accepted another offer' END
FROM applications AS a
WHERE a.account_id = %(account_id)s AND a.status IN ('rejected', 'withdrawn')
"""

NOTES_SQL = """
INSERT INTO notes (id, account_id, application_id, author_id, author_name, content, internal,
                   created_at, updated_at)
SELECT gen_random_uuid(), a.account_id, a.id, %(admin_id)s, %(admin_name)s,
       'Strong CV; schedule a call. (' || a.status || ')', random() < 0.8,
       a.created_at + interval '2 days', a.created_at + interval '2 days'
FROM applications AS a
WHERE a.account_id = %(account_id)s AND random() < 0.05
"""

DOCUMENTS_SQL = """
INSERT INTO documents (id, account_id, application_id, type, name, extension, filename, mime_type, size,
                       upload_status, storage_key, created_at, uploaded_at)
SELECT d.id, d.account_id, d.application_id, d.type, d.type, 'pdf', d.type || '.pdf', 'application/pdf',
       d.size, 'uploaded', 'bench/' || d.application_id || '/' || d.id, d.created_at, d.created_at
FROM (
    SELECT gen_random_uuid() AS id, a.account_id, a.id AS application_id,
           'cv' AS type, 40000 + (random() * 400000)::int AS size, a.created_at
    FROM applications AS a WHERE a.account_id = %(account_id)s AND random() < 0.3
    UNION ALL
    SELECT gen_random_uuid(), a.account_id, a.id, 'certificate', 20000 + (random() * 90000)::int,
           a.created_at + interval '1 minute'
    FROM applications AS a WHERE a.account_id = %(account_id)s AND random() < 0.05
) AS d
"""

SECONDARY_INDEXES_SQL = """
SELECT i.indexname, i.indexdef
FROM pg_indexes AS i
WHERE i.schemaname = current_schema() AND i.tablename = %s
  AND NOT EXISTS (
      SELECT 1 FROM pg_constraint AS c
      WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass
  )
ORDER BY i.indexname
"""


def _rare_rows(rows: int) -> tuple[list[int], list[str], list[str]]:
    """A few rows spread through the table get a rare name (each name twice at most)."""
    positions, firsts, lasts = [], [], []
    for i, (first, last) in enumerate(RARE_NAMES):
        for k in (1, 2) if i % 2 == 0 else (1,):
            n = max(1, int(rows * (i * 2 + k) / (len(RARE_NAMES) * 2 + 2)))
            positions.append(n)
            firsts.append(first)
            lasts.append(last)
    return positions, firsts, lasts


def seed_applications(
    dsn: str,
    account_id: uuid.UUID,
    admin_id: uuid.UUID,
    job_ids: list[uuid.UUID],
    rows: int,
    *,
    log: bool = True,
) -> SeedResult:
    """Fill ``applications`` (every NOT NULL column), ``status_history``, some notes and documents."""
    (result,) = seed_accounts(dsn, [(account_id, admin_id, job_ids, rows)], log=log)
    return result


def seed_accounts(
    dsn: str, accounts: list[tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], int]], *, log: bool = True
) -> list[SeedResult]:
    """:func:`seed_applications` for several accounts (account, admin, postings, rows): the secondary indexes
    dropped once and rebuilt once for all of them."""
    results = [SeedResult(account_id, admin_id, job_ids, rows) for account_id, admin_id, job_ids, rows in accounts]
    timings = results[0].timings

    def step(name: str, started: float) -> None:
        timings[name] = time.perf_counter() - started
        if log:
            print(f"  seed: {name:<28} {timings[name]:7.1f} s", flush=True)

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        conn.execute("SET work_mem = '64MB'")
        # Every row is consistent by construction: skip the per-row foreign-key triggers of the load.
        conn.execute("SET session_replication_role = replica")
        conn.execute("SELECT setseed(0.42)")
        dropped: list[tuple[str, str]] = []
        started = time.perf_counter()
        for table in ("applications", "status_history", "candidates"):
            for name, definition in conn.execute(SECONDARY_INDEXES_SQL, (table,)).fetchall():
                conn.execute(f'DROP INDEX "{name}"')
                dropped.append((name, definition))
        step("drop secondary indexes", started)

        for result in results:
            params = _params(result)
            for name, sql in (
                ("applications", APPLICATIONS_SQL),
                ("candidates", CANDIDATES_SQL),
                ("status_history", HISTORY_SQL),
                ("notes", NOTES_SQL),
                ("documents", DOCUMENTS_SQL),
            ):
                started = time.perf_counter()
                with conn.transaction():
                    cursor = conn.execute(sql, params)
                result.counts[name] = cursor.rowcount
                step(f"insert {name} ({cursor.rowcount:,})", started)

        started = time.perf_counter()
        for _name, definition in dropped:
            conn.execute(definition)
        step(f"rebuild {len(dropped)} indexes", started)
        conn.execute("SET session_replication_role = origin")

        started = time.perf_counter()
        for table in ("applications", "candidates", "status_history", "notes", "documents", "job_postings", "stages"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        step("vacuum analyze", started)
    return results


def _params(result: SeedResult) -> dict[str, Any]:
    rare_rows, rare_first, rare_last = _rare_rows(result.rows)
    return {
        "account_id": result.account_id,
        "admin_id": result.admin_id,
        "admin_name": ADMIN_NAME,
        "rows": result.rows,
        "jobs": result.job_ids,
        "n_jobs": len(result.job_ids),
        "first": list(FIRST_NAMES),
        "n_first": len(FIRST_NAMES),
        "last": list(LAST_NAMES),
        "n_last": len(LAST_NAMES),
        "rare_rows": rare_rows,
        "rare_first": rare_first,
        "rare_last": rare_last,
        "domains": list(DOMAINS),
        "n_domains": len(DOMAINS),
        "streets": list(STREETS),
        "n_streets": len(STREETS),
        "cities": list(CITIES),
        "n_cities": len(CITIES),
        "countries": list(COUNTRIES),
        "n_countries": len(COUNTRIES),
        "sources": list(SOURCES),
        "n_sources": len(SOURCES),
        "cover_letter": COVER_LETTER,
    }


# ---- generated object bytes: a file object over a generator, never the whole object in memory ----


class GeneratedFile:
    """``size`` bytes of random-looking data, produced block by block as they are read.

    Each 1 MiB block is a rotation of one random block, salted with the object's seed and the
    block's number, so no two blocks (and no two objects) are equal, at memcpy cost.
    """

    _base = os.urandom(MIB)

    def __init__(self, size: int, seed: int, header: bytes = b"%PDF-1.7\n") -> None:
        self.size = size
        self._blocks = self._generate(seed, header)
        self._pending = b""
        self._left = size

    def _generate(self, seed: int, header: bytes) -> Iterator[bytes]:
        n = 0
        while True:
            shift = (seed * 7919 + n * 4099) % MIB
            block = self._base[shift:] + self._base[:shift]
            salt = struct.pack(">QQ", seed, n)
            yield (header + salt + block[len(header) + 16 :]) if n == 0 else (salt + block[16:])
            n += 1

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._left
        size = min(size, self._left)
        parts = [self._pending] if self._pending else []
        have = len(self._pending)
        while have < size:
            block = next(self._blocks)
            parts.append(block)
            have += len(block)
        data = b"".join(parts)
        out, self._pending = data[:size], data[size:]
        self._left -= len(out)
        return out


# ---- rows ----


async def create_applications(
    settings: Settings, account_id: uuid.UUID, admin_id: uuid.UUID, job_id: uuid.UUID, names: list[str]
) -> list[uuid.UUID]:
    """Applications through the real service (each with its first history entry and audit event)."""
    from ats.auth import Principal
    from ats.models import JobPosting
    from ats.services import applications

    runtime = Runtime.create(settings)
    principal = Principal(type="user", id=admin_id, account_id=account_id, role="admin", name=ADMIN_NAME)
    try:
        async with runtime.transaction() as session:
            job = await session.get(JobPosting, job_id)
            assert job is not None
            ids = []
            for name in names:
                email = f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@bench.example"
                app = await applications.create_application(
                    session,
                    principal,
                    job,
                    candidate={"name": name, "email": email, "phone": "+49 30 1234567"},
                    cover_letter="I would like to apply.\n" * 5,
                    source="website",
                    consent=applications.ConsentInput(True, "2025-01", False, "127.0.0.1"),
                )
                ids.append(app.id)
        return ids
    finally:
        await runtime.engine.dispose()


DOCUMENT_ROW = (
    "INSERT INTO documents (id, account_id, application_id, type, name, extension, filename, mime_type, size,"
    " upload_status, storage_key, created_at, uploaded_at) VALUES (%(id)s, %(account_id)s, %(application_id)s,"
    " 'other', %(name)s, 'pdf', %(filename)s, 'application/pdf', %(size)s, 'uploaded', %(key)s, %(at)s, %(at)s)"
)


def insert_documents(dsn: str, rows: list[dict[str, Any]]) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(DOCUMENT_ROW, rows)


def document_row(account_id: uuid.UUID, app_id: uuid.UUID, i: int, size: int) -> dict[str, Any]:
    doc_id = uuid.uuid4()
    return {
        "id": doc_id,
        "account_id": account_id,
        "application_id": app_id,
        "name": f"Document {i + 1:03d}",
        "filename": f"Document {i + 1:03d}.pdf",
        "size": size,
        "key": f"{account_id}/{app_id}/{doc_id}",
        "at": datetime.now(UTC),
    }


LOREM = (
    "Strong background in distributed systems; led the migration of a payments platform to PostgreSQL. "
    "Asked about on-call expectations & remote work <2 days/week>. Follow up with the hiring manager. "
)


def insert_notes_and_history(
    dsn: str, account_id: uuid.UUID, admin_id: uuid.UUID, app_id: uuid.UUID, notes: int, history: int
) -> None:
    start = datetime.now(UTC) - timedelta(days=60)
    note_rows = [
        {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "application_id": app_id,
            "author_id": admin_id,
            "author_name": ADMIN_NAME,
            "content": f"Note {i + 1}: " + LOREM * (1 + i % 4) + ("\nSecond paragraph." if i % 5 == 0 else ""),
            "internal": i % 2 == 0,
            "at": start + timedelta(minutes=17 * i),
        }
        for i in range(notes)
    ]
    history_rows = [
        {
            "id": uuid.uuid4(),
            "account_id": account_id,
            "application_id": app_id,
            "status": STATUSES[(i + 1) % 5],
            "from_status": STATUSES[i % 5],
            "at": start + timedelta(hours=5 * i + 1),
            "by_id": admin_id,
            "by_name": ADMIN_NAME,
            "note": f"Moved after review round {i + 1}." if i % 3 == 0 else None,
            "reason": "bench" if i % 7 == 0 else None,
        }
        for i in range(history)
    ]
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO notes (id, account_id, application_id, author_id, author_name, content, internal,"
            " created_at, updated_at) VALUES (%(id)s, %(account_id)s, %(application_id)s, %(author_id)s,"
            " %(author_name)s, %(content)s, %(internal)s, %(at)s, %(at)s)",
            note_rows,
        )
        cur.executemany(
            "INSERT INTO status_history (id, account_id, application_id, status, from_status, changed_at,"
            " changed_by_id, changed_by_name, note, reason) VALUES (%(id)s, %(account_id)s, %(application_id)s,"
            " %(status)s, %(from_status)s, %(at)s, %(by_id)s, %(by_name)s, %(note)s, %(reason)s)",
            history_rows,
        )
