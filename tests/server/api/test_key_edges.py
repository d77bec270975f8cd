"""API keys at their edges: a key header that is no UTF-8 is a wrong key (401, not 500), revoking a
revoked key changes nothing (one audit row), and a revocation by another process closes the key's
open WebSocket at once."""

from __future__ import annotations

import time

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from server.api.app import create_app
from server.api.state import ApiSettings
from server.models import APIKey, AuditLog
from server.runtime import Runtime
from tests.server.api.conftest import ApiTestServer, error_of
from tests.server.api.test_hostile_requests import assert_error_shape, raw_exchange


async def test_undecodable_byte_in_the_api_key_header_is_401_not_500(
    runtime: Runtime, client: TestClient
) -> None:
    request = b"GET /api/events HTTP/1.1\r\nHost: x\r\nX-API-Key: hsi_\xff\xfe\r\nConnection: close\r\n\r\n"
    status, _, body = await raw_exchange(client, request)
    assert status == 401, f"a client with a garbled key header gets {status}: {body[:300]!r}"
    assert assert_error_shape(body)["code"] == "unauthorized"


async def test_undecodable_key_on_the_open_health_route(runtime: Runtime, client: TestClient) -> None:
    request = b"GET /api/system/health HTTP/1.1\r\nHost: x\r\nX-API-Key: \xff\r\nConnection: close\r\n\r\n"
    status, _, body = await raw_exchange(client, request)
    assert status in (200, 503), f"health with a garbled key header answers {status}: {body[:300]!r}"


async def test_revoking_an_already_revoked_key_does_not_audit_a_second_revocation(
    runtime: Runtime, client: TestClient
) -> None:
    created = await (await client.post("/api/keys", json={"name": "phone"})).json()
    assert (await client.delete(f"/api/keys/{created['id']}")).status == 200
    again = await client.delete(f"/api/keys/{created['id']}")
    async with runtime.database.sessions() as session:
        rows = list(
            await session.scalars(
                select(AuditLog).where(
                    AuditLog.action == "api_key_revoked", AuditLog.resource_id == str(created["id"])
                )
            )
        )
    assert len(rows) == 1, (
        f"a second DELETE of a revoked key answered {again.status} and the audit trail now shows "
        f"{len(rows)} revocations of key {created['id']}"
    )


async def test_a_revocation_by_another_process_closes_the_open_websocket_at_once(runtime: Runtime) -> None:
    """Another process (the CLI, a second API worker) revokes: only the notification tells this one."""
    app = create_app(runtime, ApiSettings(ws_key_check_interval=600, auth_failure_delay=0.001))
    async with TestClient(ApiTestServer(app)) as client:
        admin = {"X-API-Key": (runtime.settings.data_dir / "api_key.txt").read_text().strip()}
        phone = await (await client.post("/api/keys", json={"name": "phone"}, headers=admin)).json()
        ws = await client.ws_connect("/api/ws", headers={"X-API-Key": phone["key"]})
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"
        async with runtime.database.sessions() as session:
            await session.execute(update(APIKey).where(APIKey.id == phone["id"]).values(is_active=False))
            await session.commit()
        started = time.monotonic()
        message = await ws.receive(timeout=10)
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 4001, (
            f"the revoked key's socket got {message.type} {message.data!r} after {time.monotonic() - started:.1f}s"
        )
        response = await client.get("/api/events", headers={"X-API-Key": phone["key"]})
        assert (await error_of(response, 401))["details"]["reason"] == "revoked"
