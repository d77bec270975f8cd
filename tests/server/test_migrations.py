"""Alembic migrations: head matches the models exactly, base leaves nothing behind, runs are safe.

These start from `empty_db_url` (a database with nothing in it) and call `server.migrate` the way the
server does (`asyncio.to_thread(upgrade, url)`), or run the operator's command, `python -m server migrate`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import create_engine
from server.migrate import MIGRATIONS_DIR, alembic_config, downgrade, head_revision, upgrade
from server.migrate import main as migrate_main
from server.models import PG_ENUM_TYPES, Base

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The same comparison options as migrations/env.py uses for autogenerate.
COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True}


@pytest.fixture
async def empty_engine(empty_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(empty_db_url, pool_size=2)
    yield engine
    await engine.dispose()


def _diff(metadata: MetaData) -> Any:
    def compare(connection: Connection) -> list[Any]:
        return compare_metadata(MigrationContext.configure(connection, opts=COMPARE_OPTIONS), metadata)

    return compare


async def _schema_diff(engine: AsyncEngine, metadata: MetaData) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_diff(metadata))


async def _catalogue(engine: AsyncEngine) -> dict[str, set[str]]:
    """User tables, enum types and sequences in schema public."""
    async with engine.connect() as conn:
        tables = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        types = await conn.execute(
            text(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = 'public' AND t.typtype = 'e'"
            )
        )
        sequences = await conn.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        )
        return {
            "tables": set(tables.scalars()),
            "enums": set(types.scalars()),
            "sequences": set(sequences.scalars()),
        }


async def _version(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())


def _revision_chain() -> list[str]:
    """Revision ids from base to head (asserts the history is one straight line)."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, "migration history has branched"
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_migrations_folder_is_found_by_absolute_path() -> None:
    assert MIGRATIONS_DIR.is_absolute()
    assert (MIGRATIONS_DIR / "env.py").is_file()
    chain = _revision_chain()
    assert chain[0] == "0001"
    assert head_revision() == chain[-1]
    # Revision ids are zero-padded sequence numbers, so files sort in history order.
    assert chain == sorted(chain) and all(len(rev) == 4 and rev.isdigit() for rev in chain)


async def test_upgrade_head_matches_models_exactly(empty_db_url: str, empty_engine: AsyncEngine) -> None:
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await _schema_diff(empty_engine, Base.metadata) == []
    assert await _version(empty_engine) == [head_revision()]


async def test_schema_comparison_detects_drift(empty_db_url: str, empty_engine: AsyncEngine) -> None:
    """Guards the test above: the comparison really compares (a changed model shows up as a diff)."""
    await asyncio.to_thread(upgrade, empty_db_url)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["cameras"].append_column(Column("location", String(50)))
    drifted.tables["zones"].c.color.server_default = None
    diff = await _schema_diff(empty_engine, drifted)
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in diff}
    assert "add_column" in kinds
    assert "modify_default" in kinds


async def test_downgrade_base_leaves_no_tables_types_or_sequences(
    empty_db_url: str, empty_engine: AsyncEngine
) -> None:
    await asyncio.to_thread(upgrade, empty_db_url)
    before = await _catalogue(empty_engine)
    assert before["tables"] == set(Base.metadata.tables) | {"alembic_version"}
    assert before["enums"] == set(PG_ENUM_TYPES)

    await asyncio.to_thread(downgrade, empty_db_url)
    after = await _catalogue(empty_engine)
    # alembic keeps its (now empty) bookkeeping table; everything HSI created is gone.
    assert after == {"tables": {"alembic_version"}, "enums": set(), "sequences": set()}
    assert await _version(empty_engine) == []


async def test_upgrade_is_repeatable_and_round_trips(empty_db_url: str, empty_engine: AsyncEngine) -> None:
    await asyncio.to_thread(upgrade, empty_db_url)
    await asyncio.to_thread(upgrade, empty_db_url)  # already at head: a no-op, not an error
    await asyncio.to_thread(downgrade, empty_db_url)
    await asyncio.to_thread(upgrade, empty_db_url)
    assert await _schema_diff(empty_engine, Base.metadata) == []


async def test_every_revision_downgrades_one_step_at_a_time(
    empty_db_url: str, empty_engine: AsyncEngine
) -> None:
    """Each revision's downgrade undoes exactly its upgrade (walk head -> base, then back up)."""
    chain = _revision_chain()
    await asyncio.to_thread(upgrade, empty_db_url)
    for expected in reversed(chain[:-1]):
        await asyncio.to_thread(downgrade, empty_db_url, "-1")
        assert await _version(empty_engine) == [expected]
    await asyncio.to_thread(downgrade, empty_db_url, "-1")
    assert await _version(empty_engine) == []
    for expected in chain:
        await asyncio.to_thread(upgrade, empty_db_url, "+1")
        assert await _version(empty_engine) == [expected]
    assert await _schema_diff(empty_engine, Base.metadata) == []


async def test_concurrent_upgrades_in_one_process(empty_db_url: str, empty_engine: AsyncEngine) -> None:
    """Threads of one process (alembic's globals are not thread-safe) are serialised by migrate."""
    await asyncio.gather(*(asyncio.to_thread(upgrade, empty_db_url) for _ in range(3)))
    assert await _version(empty_engine) == [head_revision()]
    assert await _schema_diff(empty_engine, Base.metadata) == []


def _run_upgrade_process(url: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from server.migrate import upgrade; upgrade(sys.argv[1])", url],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_concurrent_upgrades_across_processes(
    empty_db_url: str, empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    """API and workers starting together must not race on CREATE TYPE/TABLE (advisory lock)."""
    processes = [_run_upgrade_process(empty_db_url, tmp_path) for _ in range(3)]
    results = [await asyncio.to_thread(process.communicate, timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr
    assert await _version(empty_engine) == [head_revision()]
    assert await _schema_diff(empty_engine, Base.metadata) == []


async def test_upgrade_works_from_another_working_directory(
    empty_db_url: str, empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    process = _run_upgrade_process(empty_db_url, tmp_path)
    _, stderr = await asyncio.to_thread(process.communicate, timeout=120)
    assert process.returncode == 0, stderr
    assert await _version(empty_engine) == [head_revision()]


async def test_events_search_still_works_after_round_trip(
    empty_db_url: str, empty_engine: AsyncEngine
) -> None:
    """The generated column and its GIN index come back with a re-upgrade (not only the table)."""
    await asyncio.to_thread(upgrade, empty_db_url)
    await asyncio.to_thread(downgrade, empty_db_url)
    await asyncio.to_thread(upgrade, empty_db_url)
    async with empty_engine.begin() as conn:
        await conn.execute(text("INSERT INTO cameras (id, name, folder_path) VALUES ('c', 'C', '/c')"))
        await conn.execute(
            text(
                "INSERT INTO events (batch_id, camera_id, started_at, summary) "
                "VALUES ('b', 'c', now(), 'Person at the door')"
            )
        )
        found = await conn.execute(
            text("SELECT batch_id FROM events WHERE search_vector @@ plainto_tsquery('english', 'doors')")
        )
        assert found.scalars().all() == ["b"]


def _migrate_command(url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m server migrate ARGS` as an operator runs it: settings from `HSI_*` only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HSI_")}
    env |= {"HSI_DATABASE_URL": url, "HSI_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "server", "migrate", *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_migrate_command_upgrades_and_downgrades(
    empty_db_url: str, empty_engine: AsyncEngine, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    chain = _revision_chain()

    async def command(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(_migrate_command, empty_db_url, data_dir, *args)

    upgraded = await command()
    assert upgraded.returncode == 0, upgraded.stderr
    assert await _version(empty_engine) == [head_revision()]
    assert await _schema_diff(empty_engine, Base.metadata) == []

    one_step = await command("--downgrade", "--revision", "-1")
    assert one_step.returncode == 0, one_step.stderr
    assert await _version(empty_engine) == [chain[-2]]

    # Without a target a downgrade is refused (head would do nothing, base would drop every table).
    refused = await command("--downgrade")
    assert refused.returncode == 2 and "needs --revision" in refused.stderr
    assert await _version(empty_engine) == [chain[-2]]

    to_base = await command("--downgrade", "--revision", "base")
    assert to_base.returncode == 0, to_base.stderr
    schema = await _catalogue(empty_engine)
    assert schema == {"tables": {"alembic_version"}, "enums": set(), "sequences": set()}

    first = await command("--revision", chain[0])
    assert first.returncode == 0, first.stderr
    assert await _version(empty_engine) == [chain[0]]


async def test_the_developer_cli_takes_a_plain_url_and_needs_a_downgrade_target(
    empty_db_url: str, empty_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two findings of a review, tried: `python -m server.migrate` (the developer CLI) handed a
    `postgresql://` URL, which the server takes, to SQLAlchemy as is (psycopg, not installed: it
    failed), and `downgrade` without a revision went to base, dropping every table with its rows."""
    plain = make_url(empty_db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("HSI_DATABASE_URL", plain)
    assert await asyncio.to_thread(migrate_main, ["upgrade"]) == 0
    assert await _version(empty_engine) == [head_revision()]
    with pytest.raises(SystemExit) as refused:
        await asyncio.to_thread(migrate_main, ["downgrade"])
    assert refused.value.code == 2
    assert await _version(empty_engine) == [head_revision()]
