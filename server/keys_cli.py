"""`python -m server keys create NAME | list | revoke ID`: key management from the host's shell.

The operator's way in when no key is at hand (the first-start file was deleted, every key revoked);
the same rules as the API (server.apikeys), audited with actor "cli". Unlike the API, the CLI may
revoke the last active key: whoever has a shell on the server can always create a new one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import TypeAdapter, ValidationError

from server import apikeys
from server.config import Settings
from server.models import AuditAction, AuditLog


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = commands.add_parser("keys", help="API keys: create NAME | list | revoke ID")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("name")
    actions.add_parser("list", help="list keys (never their values)")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=int)


def _audit(action: AuditAction, key_id: int, name: str) -> AuditLog:
    return AuditLog(
        action=action.value,
        resource_type="api_key",
        resource_id=str(key_id),
        actor="cli",
        details={"name": name},
    )


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from server.db import open_database
    from server.migrate import upgrade

    async with open_database(settings) as database:
        await asyncio.to_thread(upgrade, database.url)
        async with database.sessions() as session:
            if args.keys_command == "create":
                row, plaintext = await apikeys.create_key(session, args.name)
                session.add(_audit(AuditAction.API_KEY_CREATED, row.id, row.name))
                await session.commit()
                print(
                    f"created key {row.id} ({row.name}); store it now, it is not shown again:",
                    file=sys.stderr,
                )
                print(plaintext)
            elif args.keys_command == "list":
                for row in await apikeys.list_keys(session):
                    state = "active" if row.is_active else "revoked"
                    print(f"{row.id}\t{row.name}\t{state}\t{row.created_at.isoformat()}")
            else:
                in_range = 1 <= args.key_id <= apikeys.KEY_ID_MAX  # beyond the column: no key either
                revoked = await apikeys.revoke_key(session, args.key_id) if in_range else None
                if revoked is None:
                    print(f"hsi: no key with id {args.key_id}", file=sys.stderr)
                    return 1
                row, changed = revoked
                if not changed:
                    print(f"key {row.id} ({row.name}) was already revoked", file=sys.stderr)
                    return 0
                session.add(_audit(AuditAction.API_KEY_REVOKED, row.id, row.name))
                await session.commit()
                apikeys.forget_key_file(settings.data_dir, row)
                print(f"revoked key {row.id} ({row.name})", file=sys.stderr)
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        try:
            TypeAdapter(apikeys.KeyName).validate_python(args.name)
        except ValidationError as err:
            print(f"hsi: invalid key name {args.name!r}: {err.errors()[0]['msg']}", file=sys.stderr)
            return 2
    return asyncio.run(_run(settings, args))
