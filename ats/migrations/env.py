"""Alembic environment: runs on the URL that ``ats.migrate`` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ats import models  # noqa: F401 - registers every table on the metadata
from ats.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
