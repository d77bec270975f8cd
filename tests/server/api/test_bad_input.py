"""The issue's bad-input list: each case is a 4xx with the JSON error shape, never a 500."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from server.models import Detection, Event
from server.runtime import Runtime
from tests.server.api.conftest import Seeded, error_of
from tests.support.media import write_jpeg


async def test_malformed_json_and_wrong_types(client: TestClient, seeded: Seeded) -> None:
    raw = await client.post(
        "/api/alert-rules", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (await error_of(raw, 400))["code"] == "invalid_json"
    await error_of(
        await client.post("/api/alert-rules", data=b"", headers={"Content-Type": "application/json"}), 400
    )
    await error_of(
        await client.post("/api/alert-rules", data=b"\xff\xfe", headers={"Content-Type": "application/json"}),
        400,
    )
    await error_of(await client.post("/api/alert-rules", json=["a list"]), 422)
    wrong = await error_of(
        await client.patch(f"/api/events/{seeded.events[0]}", json={"reviewed": "yes"}), 422
    )
    assert wrong["details"][0]["field"] == "reviewed"
    await error_of(await client.patch(f"/api/events/{seeded.events[0]}", json={"reviewed": None}), 422)
    await error_of(await client.post("/api/cameras", json={"name": 5}), 422)


async def test_unknown_fields_and_parameters(client: TestClient, seeded: Seeded) -> None:
    unknown = await error_of(
        await client.patch(f"/api/events/{seeded.events[0]}", json={"reviewd": True}), 422
    )
    assert unknown["details"][0]["field"] == "reviewd"
    await error_of(await client.get("/api/events?colour=red"), 422)
    await error_of(await client.get("/api/system/stats?x=1"), 422)


async def test_out_of_range_values(client: TestClient, seeded: Seeded) -> None:
    for query in (
        "min_risk=101",
        "min_risk=-1",
        "limit=0",
        "limit=100000",
        "risk_level=extreme",
        "since=yesterday",
        "since=2025-01-01T00:00:00",
        "reviewed=maybe",
    ):
        await error_of(await client.get(f"/api/events?{query}"), 422)
    await error_of(await client.get("/api/detections?min_confidence=1.01"), 422)
    preview = {
        "camera_id": "front_door",
        "detections": [
            {
                "object_type": "person",
                "confidence": 2.0,
                "bbox": {"x": 0, "y": 0, "width": 10, "height": 10},
                "image_width": 100,
                "image_height": 100,
                "detected_at": "2025-01-01T00:00:00Z",
            }
        ],
    }
    await error_of(await client.post("/api/analysis/preview", json=preview), 422)


async def test_unknown_ids_and_bad_cursors(client: TestClient, seeded: Seeded) -> None:
    for path in (
        "/api/events/999999",
        "/api/detections/424242",
        "/api/cameras/ghost",
        "/api/alerts/7c9e6679-7425-40de-944b-e07c4b7e3a9d",
        "/api/alert-rules/7c9e6679-7425-40de-944b-e07c4b7e3a9d",
        "/api/cameras/front_door/zones/ghost",
        "/api/nothing/here",
    ):
        await error_of(await client.get(path), 404)
    await error_of(await client.get("/api/events/99999999999999"), 422)
    await error_of(await client.get("/api/alerts/123"), 422)
    bad = await error_of(await client.get("/api/events?cursor=garbage!"), 400)
    assert bad["code"] == "invalid_cursor"
    cameras = await (await client.get("/api/cameras?limit=1")).json()
    await error_of(await client.get(f"/api/events?cursor={cameras['next_cursor']}"), 400)
    await error_of(await client.put("/api/events"), 405)


async def test_oversized_bodies(client: TestClient, runtime: Runtime) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    await error_of(
        await client.post("/api/alert-rules", data=big, headers={"Content-Type": "application/json"}), 413
    )


async def test_nul_characters_are_refused(client: TestClient, seeded: Seeded) -> None:
    await error_of(await client.post("/api/logs", json={"message": "a\u0000b", "source": "ha"}), 422)
    await error_of(await client.get("/api/events/search", params={"q": "a\x00b"}), 422)


async def test_path_traversal_and_files_outside_the_data_dir(
    runtime: Runtime, client: TestClient, seeded: Seeded, tmp_path: Path
) -> None:
    outside = write_jpeg(tmp_path / "outside" / "secret.jpg")
    link = runtime.settings.thumbnails_dir / "link.jpg"
    os.symlink(outside, link)
    async with runtime.database.sessions() as session:
        await session.execute(
            update(Detection)
            .where(Detection.id == seeded.detections[0])
            .values(
                thumbnail_path=str(runtime.settings.data_dir / ".." / "outside" / "secret.jpg"),
                file_path="/etc/passwd",
            )
        )
        await session.execute(
            update(Detection).where(Detection.id == seeded.detections[1]).values(thumbnail_path=str(link))
        )
        await session.execute(
            update(Event).where(Event.id == seeded.events[3]).values(clip_path="/etc/hostname")
        )
        await session.commit()
    for path in (
        f"/api/detections/{seeded.detections[0]}/thumbnail",
        f"/api/detections/{seeded.detections[0]}/image",
        f"/api/detections/{seeded.detections[1]}/thumbnail",
        f"/api/events/{seeded.events[3]}/clip",
    ):
        await error_of(await client.get(path), 404)
    for path in (
        "/api/detections/..%2F..%2Fetc%2Fpasswd/image",
        "/api/cameras/..%2F..%2Fetc/snapshot",
        "/api/events/1/../../../etc/passwd",
    ):
        response = await client.get(path)
        assert 400 <= response.status < 500 and response.content_type == "application/json", path


async def test_ingest_rejects_non_images_and_bad_types(runtime: Runtime, client: TestClient) -> None:
    not_image = await client.post(
        "/api/ingest?camera_id=porch", data=b"hello" * 5000, headers={"Content-Type": "image/jpeg"}
    )
    assert (await error_of(not_image, 422))["code"] == "invalid_media"
    assert list((runtime.settings.ingest_dir / "porch").glob("*")) == []
    await error_of(
        await client.post("/api/ingest?camera_id=porch", data=b"x", headers={"Content-Type": "text/plain"}),
        415,
    )
    await error_of(await client.post("/api/ingest", data=b"x", headers={"Content-Type": "image/jpeg"}), 422)
    await error_of(
        await client.post(
            "/api/ingest?camera_id=../../etc", data=b"x", headers={"Content-Type": "image/jpeg"}
        ),
        422,
    )
    await error_of(
        await client.post("/api/ingest?camera_id=porch", data=b"", headers={"Content-Type": "image/jpeg"}),
        422,
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_an_upload_that_does_not_decompress_is_a_400(
    runtime: Runtime, client: TestClient, tmp_path: Path, encoding: str
) -> None:
    """The finding (a review, then tried): a client or proxy that declares a compressed body and
    sends it as is got a 500 and a traceback in the log."""
    picture = write_jpeg(tmp_path / "a.jpg").read_bytes()
    response = await client.post(
        "/api/ingest?camera_id=porch",
        data=picture,
        headers={"Content-Type": "image/jpeg", "Content-Encoding": encoding},
    )
    assert "cannot be read" in (await error_of(response, 400))["message"]
    assert list((runtime.settings.ingest_dir / "porch").glob("*")) == []


def test_keys_cli(db_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HSI_DATABASE_URL": db_url,
        "HSI_DATA_DIR": str(tmp_path),
        "HSI_REDIS_URL": "redis://127.0.0.1:1",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server", "keys", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    created = cli("create", "laptop")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("hsi_")
    listed = cli("list")
    assert "\tlaptop\tactive\t" in listed.stdout
    key_id = listed.stdout.split("\t")[0]
    assert cli("revoke", key_id).returncode == 0
    assert "\tlaptop\trevoked\t" in cli("list").stdout
    assert cli("revoke", "999").returncode == 1
    # A review's findings, tried: an id beyond the column was a traceback, and names the API refuses
    # (empty, a tab or a line break forging lines of `keys list`) were created (a long one cut short).
    beyond = cli("revoke", str(2**31))
    assert beyond.returncode == 1 and beyond.stderr.endswith(f"hsi: no key with id {2**31}\n")
    for name in ("", "laptop\n99\tadmin\tactive\t2020-01-01", "x" * 101):
        refused = cli("create", name)
        assert refused.returncode == 2 and refused.stderr.startswith("hsi: invalid key name"), refused.stderr
    assert cli("list").stdout.count("\n") == 1  # only the laptop's key


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 101}, {}, {"name": "ok", "extra": 1}])
async def test_key_create_validation(client: TestClient, body: dict) -> None:
    await error_of(await client.post("/api/keys", json=body), 422)


@pytest.mark.parametrize(
    "extra",
    [b'{"count": 123456789012345678901234567890}', b'{"ratio": NaN}', b'{"ratio": Infinity}'],
    ids=["beyond-64-bits", "nan", "infinity"],
)
async def test_a_client_log_the_database_cannot_store_as_sent_is_a_422(client: TestClient, extra: bytes) -> None:
    """A review's finding: `extra` took any JSON, and the JSONB writer refused integers beyond 64 bits
    (a 500); NaN and infinities were stored as null."""
    body = b'{"message": "x", "source": "ha", "extra": ' + extra + b"}"
    response = await client.post("/api/logs", data=body, headers={"Content-Type": "application/json"})
    error = await error_of(response, 422)
    assert error["details"][0]["field"].startswith("extra"), error


def _cursor(name: str, values: list[Any]) -> str:
    """A cursor as the server writes one (`Keyset.encode`), with values of our choosing."""
    return base64.urlsafe_b64encode(json.dumps({"k": name, "v": values}).encode()).decode().rstrip("=")


_T = "2025-12-31T12:00:00+00:00"
_SEARCH = "/api/events/search?q=person"


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        pytest.param("/api/events", _cursor("events", [_T, 2**40]), id="past-integer"),  # 422 before
        pytest.param("/api/events", _cursor("events", [_T, -(2**70)]), id="below-64-bits"),
        pytest.param("/api/events", _cursor("events", [_T, 0]), id="id-0"),  # no id is 0: never written
        pytest.param("/api/detections", _cursor("detections", [_T, 2**70]), id="detections"),
        pytest.param("/api/logs", _cursor("logs", [_T, 2**70]), id="logs"),
        pytest.param("/api/audit", _cursor("audit", [_T, 2**70]), id="audit"),
        pytest.param("/api/keys", _cursor("keys", [2**40]), id="keys"),
        pytest.param(_SEARCH, _cursor("search", [None, None, None, None, 2**40]), id="search-newest"),  # a 500
        pytest.param(_SEARCH, _cursor("search", [_T, 2**70, None, None, 5]), id="search-window"),  # a 500
        pytest.param(_SEARCH, _cursor("search", [_T, 1, 0.5, 2**70, 5]), id="search-last"),
        pytest.param(_SEARCH, _cursor("search", [_T, 1, "NaN", 2, 5]), id="search-rank-nan"),
    ],
)
async def test_cursor_with_values_no_list_writes_is_an_invalid_cursor(
    client: TestClient, seeded: Seeded, path: str, cursor: str
) -> None:
    """A well-formed cursor whose numbers its list's columns cannot hold is a bad cursor like any other
    (400 `invalid_cursor`), not the database's range error (422) or a 500 (search)."""
    separator = "&" if "?" in path else "?"
    bad = await error_of(await client.get(f"{path}{separator}cursor={cursor}"), 400)
    assert bad["code"] == "invalid_cursor"
