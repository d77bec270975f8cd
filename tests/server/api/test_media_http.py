"""HEAD and conditional ranges on media routes (a review's findings).

`MediaResponse` had a HEAD branch (server/api/media.py: `if request.method == hdrs.METH_HEAD`), but the
routes were installed with `add_route("GET", ...)` only (server/api/registry.py `register`), so aiohttp
answered HEAD with 405 and the branch was unreachable. Video players and download managers probe a clip
with HEAD before seeking.

`If-Range` carrying an entity tag (the ETag these responses send) was ignored: aiohttp's
`request.if_range` only parses an HTTP date, so a stale ETag still got a 206 of the new file's bytes
(RFC 9110 13.1.5: a non-matching validator must get the whole representation, 200).

`Range` was read by aiohttp's `request.http_range`, which takes `bytes=-0` for "from byte 0" (a 206 of
the whole file; a suffix of no bytes is unsatisfiable, 416) and raises on several ranges, which the
server answered 416; it serves no multipart/byteranges, so it ignores such a header (RFC 9110 14.2)
and sends the whole file.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.server.api.conftest import Seeded


async def test_head_on_media_is_answered_like_get(client: TestClient, seeded: Seeded) -> None:
    for path in (
        f"/api/detections/{seeded.detections[0]}/thumbnail",
        f"/api/detections/{seeded.detections[0]}/image",
        f"/api/events/{seeded.events[3]}/clip",
    ):
        got = await client.get(path)
        await got.read()
        head = await client.head(path)
        assert head.status == 200, (path, head.status)
        assert head.headers.get("Content-Length") == got.headers["Content-Length"], path
        assert head.headers.get("Accept-Ranges") == "bytes", path
        assert await head.read() == b""
        # The same route, the same key check.
        assert (await client.head(path, headers={"X-API-Key": "not-a-key"})).status == 401, path


async def test_if_range_with_a_stale_etag_gets_the_whole_file(client: TestClient, seeded: Seeded) -> None:
    path = f"/api/events/{seeded.events[3]}/clip"
    whole = await client.get(path)
    body = await whole.read()
    etag = whole.headers["ETag"]
    matching = await client.get(path, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert matching.status == 206 and len(await matching.read()) == 10
    stale = await client.get(path, headers={"Range": "bytes=0-9", "If-Range": '"0-0"'})
    assert stale.status == 200, f"If-Range with a non-matching ETag answered {stale.status}"
    assert await stale.read() == body
    weak = await client.get(path, headers={"Range": "bytes=0-9", "If-Range": "W/" + etag})
    assert weak.status == 200  # a weak tag never validates a range


@pytest.mark.parametrize(
    ("header", "status", "part"),
    [
        ("bytes=-0", 416, None),  # a suffix of no bytes: 206 of the whole file before
        ("bytes=0-10,20-30", 200, slice(None)),  # several ranges: 416 before
        ("bytes=5-3", 200, slice(None)),  # not a range: ignored
        ("items=0-3", 200, slice(None)),  # another unit: ignored
        ("bytes=2-5", 206, slice(2, 6)),
        ("BYTES=2-", 206, slice(2, None)),
        ("bytes=-4", 206, slice(-4, None)),
        ("bytes=999999999-", 416, None),
    ],
)
async def test_ranges_are_served_ignored_or_refused_as_rfc_9110_says(
    client: TestClient, seeded: Seeded, header: str, status: int, part: slice | None
) -> None:
    path = f"/api/events/{seeded.events[3]}/clip"
    whole = await (await client.get(path)).read()
    response = await client.get(path, headers={"Range": header})
    body = await response.read()
    assert response.status == status, (header, response.status, response.headers.get("Content-Range"))
    if part is None:
        assert response.headers["Content-Range"] == f"bytes */{len(whole)}"
    else:
        assert body == whole[part]
