"""API keys: create (the plaintext is in this one response only), list, revoke."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server import apikeys
from server.api.audit import record
from server.api.declare import Call, Routes
from server.api.errors import conflict, not_found
from server.api.key_cache import API_KEYS
from server.api.pagination import DbId, Keyset, Page, PageQuery, fetch_page, page_of
from server.api.rows import selected
from server.models import APIKey, AuditAction
from server.wire import KeyOut

routes = Routes("keys")


class KeyPath(BaseModel):
    key_id: DbId


class NewKey(KeyOut):
    key: str = Field(description="The key itself. Shown only here: store it now.")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: apikeys.KeyName


_KEYSET = Keyset("keys", (APIKey.id,), (DbId,), descending=False)


@routes.get("/api/keys", summary="List API keys (never their values)", query=PageQuery, response=Page[KeyOut])
async def list_api_keys(call: Call) -> dict[str, Any]:
    rows, cursor = await call.runtime.database.read(
        lambda connection: fetch_page(connection, selected(APIKey), _KEYSET, call.query, lambda k: (k["id"],))
    )
    return page_of(list(rows), cursor)


@routes.post("/api/keys", summary="Create an API key", body=KeyCreate, response=NewKey, status=201)
async def create_api_key(call: Call) -> dict[str, Any]:
    async with call.runtime.database.sessions() as session:
        row, plaintext = await apikeys.create_key(session, call.body.name)
        record(
            session, call.request, AuditAction.API_KEY_CREATED, "api_key", row.id, details={"name": row.name}
        )
        await session.commit()
        return {**KeyOut.dump(row), "key": plaintext}


@routes.delete(
    "/api/keys/{key_id}", summary="Revoke an API key", path_params=KeyPath, response=KeyOut, errors=(409,)
)
async def revoke_api_key(call: Call) -> dict[str, Any]:
    """The row stays (revoked) for the audit trail. The last active key cannot be revoked over the API:
    that would lock everybody out (the CLI can)."""
    async with call.runtime.database.sessions() as session:
        try:
            revoked = await apikeys.revoke_key(session, call.path.key_id, keep_last=True)
        except apikeys.LastActiveKey:
            raise conflict("this is the last active key; create another one first") from None
        if revoked is None:
            raise not_found("API key", call.path.key_id)
        row, changed = revoked
        if not changed:  # revoking again is a no-op, not a second revocation in the audit trail
            return KeyOut.dump(row)
        record(
            session, call.request, AuditAction.API_KEY_REVOKED, "api_key", row.id, details={"name": row.name}
        )
        await session.commit()
    apikeys.forget_key_file(call.runtime.settings.data_dir, row)
    # Other processes forget the key when the commit's notification reaches them; this one at once.
    if API_KEYS in call.request.app:
        call.request.app[API_KEYS].forget()
    return KeyOut.dump(row)
