"""A stand-in Hugging Face Hub on 127.0.0.1: the real `huggingface_hub` client downloads from it.

The Hub is the one part that cannot be reached from here, so tests serve folders they wrote, answering
the requests HSI's fetcher makes through it (`HF_ENDPOINT` points the client at it): the repository's
revision with its files' sizes and hashes (`model_info(files_metadata=True)`), and each file by
`resolve` (GET, with `Range` when resuming). Files are described as LFS files, with their SHA-256. Knobs for the tests: a byte
rate (to watch progress and kill a download half-way), a repository that answers 500, and a file whose
bytes are not the ones its hash promises. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web


@dataclass
class Repo:
    folder: Path
    #: Serve other bytes than the hash in the metadata promises (a corrupt mirror).
    corrupt: bool = False
    broken: bool = False

    @property
    def files(self) -> list[Path]:
        return sorted(path for path in self.folder.rglob("*") if path.is_file())

    @property
    def commit(self) -> str:
        digest = hashlib.sha1(usedforsecurity=False)
        for path in self.files:
            digest.update(path.relative_to(self.folder).as_posix().encode() + sha256(path).encode())
        return digest.hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class StandInHub:
    """`await hub.start()` → `hub.endpoint` (for HF_ENDPOINT); `add(repo_id, folder)` serves a folder."""

    bytes_per_second: float | None = None
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    endpoint: str = ""
    _runner: web.AppRunner | None = None

    def add(self, repo_id: str, folder: Path) -> Repo:
        self.repos[repo_id] = Repo(folder)
        return self.repos[repo_id]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/models/{owner}/{name}", self._revision)
        app.router.add_get("/api/models/{owner}/{name}/revision/{revision}", self._revision)
        app.router.add_get("/{owner}/{name}/resolve/{revision}/{path:.+}", self._resolve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self.endpoint

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _repo(self, request: web.Request) -> Repo:
        self.requests.append(Request(request.method, request.path, request.headers.get("Range")))
        repo = self.repos.get(f"{request.match_info['owner']}/{request.match_info['name']}")
        if repo is None:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RepoNotFound"}, text="Repository not found")
        if repo.broken:
            raise web.HTTPInternalServerError(text="the stand-in hub is broken on purpose")
        return repo

    async def _revision(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        siblings = []
        for path in repo.files:
            size = path.stat().st_size
            siblings.append(
                {
                    "rfilename": path.relative_to(repo.folder).as_posix(),
                    "size": size,
                    "blobId": hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest(),
                    "lfs": {"sha256": sha256(path), "size": size, "pointerSize": 134},
                }
            )
        repo_id = f"{request.match_info['owner']}/{request.match_info['name']}"
        return web.json_response(
            {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "siblings": siblings}
        )

    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        repo = self._repo(request)
        relative = request.match_info["path"]
        path = repo.folder / relative
        if ".." in Path(relative).parts or not path.is_file():
            raise web.HTTPNotFound(headers={"X-Error-Code": "EntryNotFound"}, text="Entry not found")
        body = path.read_bytes()
        if repo.corrupt:
            body = bytes(reversed(body))
        headers = {
            "X-Repo-Commit": repo.commit,
            "ETag": f'"{sha256(path)}"',
            "Accept-Ranges": "bytes",
        }
        start = 0
        ranged = request.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged.removeprefix("bytes=").split("-", 1)[0] or 0)
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        headers["Content-Length"] = str(len(body) - start)
        status = 206 if start else 200
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        chunk = 64 * 1024
        for offset in range(start, len(body), chunk):
            await response.write(body[offset : offset + chunk])
            if self.bytes_per_second:
                await asyncio.sleep(chunk / self.bytes_per_second)
        await response.write_eof()
        return response
