"""Database schema migrations (alembic), driven from code.

`upgrade(url)` / `downgrade(url)` build the alembic `Config` in code, pointing at the `migrations/`
folder by absolute path, so they work from any working directory and from a worker thread
(`await asyncio.to_thread(upgrade, url)`): the async env.py runs its own event loop with
`asyncio.run`, which is why these functions must not be called on a thread that already runs a loop.
Concurrent calls are safe: serialised by a lock within a process and by a PostgreSQL advisory lock
across processes (several HSI processes may start against one database at once).

Where that folder is: the repository keeps it at the top (`migrations/`, next to `server/`), and
pyproject.toml ships it inside the wheel as `server/migrations/`, because an installed server (the
add-on and GPU images install the package, not a checkout) has no repository around it. An installed
copy wins; a checkout, editable install included, has none and uses the repository's folder, which is
the one `revision --autogenerate` must write to.

For developers: `python -m server.migrate revision -m "add x" --autogenerate` writes a new revision
from the models (review it), `python -m server.migrate current|history|upgrade|downgrade`.
`HSI_DATABASE_URL` gives the database for those commands.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from server.config import asyncpg_url
from server.db import DatabaseTooNew


def _find_migrations() -> Path:
    """The installed copy (`server/migrations`, only in a wheel), else the repository's `migrations/`."""
    package = Path(__file__).resolve().parent
    installed = package / "migrations"
    return installed if (installed / "env.py").is_file() else package.parent / "migrations"


#: The alembic script directory (env.py, versions/). `HSI_MIGRATIONS_DIR` overrides it for
#: installations that place the folder elsewhere.
MIGRATIONS_DIR = Path(os.environ.get("HSI_MIGRATIONS_DIR") or _find_migrations())


#: alembic's `context` and `op` are process-wide proxies, so two alembic commands must never run at the
#: same time in one process; this lock serialises them (other processes are serialised by the
#: advisory lock that migrations/env.py takes in the database).
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An alembic `Config` for the HSI migrations, independent of the current directory.

    The URL travels in `config.attributes` (read by env.py) and, `%`-escaped for configparser, in
    `sqlalchemy.url` so that alembic's own tooling sees it as well.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (an asyncpg URL) to `revision`; a no-op when already there.

    Raises `DatabaseTooNew` when the database is at a revision this release does not have."""
    with _ALEMBIC_LOCK:
        try:
            command.upgrade(alembic_config(url), revision)
        except CommandError as err:
            if "Can't locate revision" not in str(err):
                raise
            raise DatabaseTooNew(
                f"the database was migrated by a newer HSI release ({err}; this one knows revisions up to "
                f"{head_revision()}): run that release again, or restore a backup of before the update"
            ) from None


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the database at `url` to `revision` (`base` removes every HSI table and type)."""
    with _ALEMBIC_LOCK:
        command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest revision in `migrations/versions` (what `upgrade(url)` brings a database to)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revisions in {MIGRATIONS_DIR}")
    return head


def main(argv: list[str] | None = None) -> int:
    """Developer CLI around alembic's commands, using the same in-code configuration."""
    parser = argparse.ArgumentParser(prog="python -m server.migrate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upgrade")
    up.add_argument("revision", nargs="?", default="head")
    down = commands.add_parser("downgrade")
    # No default: head would do nothing, and base drops every table with its rows.
    down.add_argument("revision", help="the revision to go down to (base: drop every HSI table)")
    commands.add_parser("current")
    commands.add_parser("history")
    revision = commands.add_parser("revision")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)

    url = os.environ.get("HSI_DATABASE_URL")
    config = alembic_config(asyncpg_url(url) if url else None)
    if args.command == "upgrade":
        command.upgrade(config, args.revision)
    elif args.command == "downgrade":
        command.downgrade(config, args.revision)
    elif args.command == "current":
        command.current(config, verbose=True)
    elif args.command == "history":
        command.history(config)
    else:
        command.revision(config, message=args.message, autogenerate=args.autogenerate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
