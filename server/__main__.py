"""Command line: `python -m server run | api | worker detect|analyze | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from server.config import Settings, SettingsError, load_addon_settings, load_settings, unknown_variables
from server.logs import configure_logging


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server", description="Home Security Intelligence")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="everything: API, watcher, detection (in a process of its own), analysis")
    commands.add_parser("api", help="only the HTTP/WebSocket API")
    commands.add_parser("addon", help="Home Assistant add-on: options.json, run everything, discovery")
    worker = commands.add_parser("worker", help="one pipeline worker (scale out on any host)")
    worker.add_argument("kind", choices=["detect", "analyze", "watcher"])
    migrate = commands.add_parser("migrate", help="upgrade the database schema (or downgrade)")
    migrate.add_argument("--revision", help="the target (default head; a downgrade must name one)")
    migrate.add_argument("--downgrade", action="store_true", help="downgrade to --revision (e.g. -1, base)")
    from server import keys_cli

    keys_cli.add_parser(commands)
    return parser


async def _migrate(settings: Settings, revision: str, downgrade_to: bool) -> None:
    from server.db import open_database
    from server.migrate import downgrade, upgrade

    async with open_database(settings) as database:
        await asyncio.to_thread(downgrade if downgrade_to else upgrade, database.url, revision)


def _run_tool(settings: Settings, args: argparse.Namespace) -> int:
    """`keys` and `migrate`: an operator's commands, so a database that cannot be reached is one line
    saying so (with the driver's reason), not a trace through alembic and asyncpg."""
    from server.pipeline.faults import is_transient

    from server.db import DatabaseTooNew

    try:
        if args.command == "keys":
            from server import keys_cli

            return keys_cli.main(settings, args)
        asyncio.run(_migrate(settings, args.revision or "head", args.downgrade))
        return 0
    except DatabaseTooNew as err:
        print(f"hsi: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        if not is_transient(err):
            raise
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        print(f"hsi: cannot reach the database: {reason}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "migrate" and args.downgrade and args.revision is None:
        # Not a default: "head" would make it a silent no-op, "base" would drop every table.
        parser.error("migrate --downgrade needs --revision (e.g. -1 for one step, base for everything)")
    try:
        settings = load_addon_settings() if args.command == "addon" else load_settings()
    except SettingsError as err:
        print(f"hsi: {err}", file=sys.stderr)
        return 2
    configure_logging(settings)
    for line in unknown_variables(os.environ):
        logging.getLogger("hsi.config").warning(line)
    if args.command in ("keys", "migrate"):
        return _run_tool(settings, args)
    from server import allocator
    from server.runner import ROLES, serve

    allocator.tune()  # before the first frame is decoded: see server/allocator.py

    roles = {"run": list(ROLES), "addon": list(ROLES), "api": ["api"]}.get(args.command) or [args.kind]
    on_ready = None
    if args.command == "addon":
        from server.addon import announce_runtime

        on_ready = announce_runtime
    from server.db import DatabaseTooNew
    from server.embedded import EmbeddedServiceError

    try:
        asyncio.run(serve(settings, roles, on_ready=on_ready))
    except (SettingsError, EmbeddedServiceError, DatabaseTooNew) as err:  # the operator's to act on: one line
        print(f"hsi: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
