"""HTTP ingest at its edges: a Redis that cannot take writes is a 503 to retry, a body no route takes is
refused before the client sends it, simultaneous copies queue once, an upload cut short leaves nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient

from server.runtime import Runtime
from tests.support.media import write_h264_clip, write_jpeg
from tests.support.watching import queued


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_redis_out_of_memory_is_a_503_not_a_500(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    """Redis at its maxmemory (noeviction, the setting a queue needs) refuses writes with OOM: the
    upload cannot be queued now, and a retry later succeeds, so the client must be told 503."""
    photo = write_jpeg(tmp_path / "photo.jpg").read_bytes()
    redis = runtime.redis
    old = await redis.config_get("maxmemory")
    policy = await redis.config_get("maxmemory-policy")
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", 1)
    try:
        response = await client.post(
            "/api/ingest?camera_id=porch", data=photo, headers={"Content-Type": "image/jpeg"}
        )
        status, text = response.status, await response.text()
    finally:
        await redis.config_set("maxmemory", old["maxmemory"])
        await redis.config_set("maxmemory-policy", policy["maxmemory-policy"])
    assert status == 503 and '"unavailable"' in text, (
        f"Redis full: the client is answered {status} {text}, not a 503 to retry"
    )
    assert _files(runtime.settings.ingest_dir) == []


async def test_two_simultaneous_uploads_of_the_same_bytes_queue_once(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    photo = write_jpeg(tmp_path / "photo.jpg").read_bytes()
    answers = await asyncio.gather(
        *(
            client.post("/api/ingest?camera_id=porch", data=photo, headers={"Content-Type": "image/jpeg"})
            for _ in range(4)
        )
    )
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 200, 200, 202], statuses
    assert len(await queued(runtime)) == 1
    assert len(_files(runtime.settings.ingest_dir)) == 1


async def _raw(client: TestClient, api_key: str, head: str, body: bytes = b"", wait: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head.replace("KEY", api_key).encode() + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(200), wait)
    except TimeoutError:
        return b""
    finally:
        writer.close()


async def test_a_huge_declared_body_with_expect_100_continue_is_refused_before_it_is_sent(
    client: TestClient, api_key: str
) -> None:
    """curl (and many HTTP clients) send `Expect: 100-continue` for large bodies and wait: the server
    should answer 413 at once instead of inviting the client to send 10 GB it will refuse."""
    head = (
        "POST /api/ingest?camera_id=porch HTTP/1.1\r\nHost: x\r\nX-API-Key: KEY\r\n"
        "Content-Type: video/mp4\r\nContent-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n"
    )
    first = await _raw(client, api_key, head)
    assert first.startswith(b"HTTP/1.1 413"), (
        f"the server answers {first[:40]!r} to a 10 GB body over its limit"
    )


async def test_an_upload_cut_short_leaves_nothing_behind(
    client: TestClient, api_key: str, runtime: Runtime, tmp_path: Path
) -> None:
    clip = write_h264_clip(tmp_path / "c.mkv", seconds=2, fps=10).read_bytes()
    head = (
        "POST /api/ingest?camera_id=porch HTTP/1.1\r\nHost: x\r\nX-API-Key: KEY\r\n"
        f"Content-Type: video/x-matroska\r\nContent-Length: {len(clip)}\r\n\r\n"
    )
    await _raw(client, api_key, head, clip[: len(clip) // 2], wait=0.5)
    await asyncio.sleep(1.0)
    assert _files(runtime.settings.ingest_dir) == []
    assert await queued(runtime) == []
