"""Models by name (server/hub.py): the real `huggingface_hub` client against a stand-in Hub on 127.0.0.1.

What each test proves: a model setting is read as a path or a Hub id; a file is fetched once, verified,
and found again with no network; a `.part` left by an interrupted download is resumed with a `Range`
request; bytes that do not match their hash are never kept; offline mode fails clearly unless the model
is already here. The end-to-end side (a running server switching models, killed mid-download):
test_models_by_name.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from server.config import load_settings
from server.hub import DownloadFailed, HubFetcher, HubModel, parse_model_ref
from tests.support.hub import StandInHub


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StandInHub]:
    """A stand-in Hub that the library in this process talks to (HF_ENDPOINT is read at its import)."""
    stand_in = StandInHub()
    endpoint = await stand_in.start()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        huggingface_hub.constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "hub" / "acme" / "camera-net"
    folder.mkdir(parents=True)
    (folder / "weights.gguf").write_bytes(hashlib.sha256(b"seed").digest() * 40_000)  # 1.28 MB
    (folder / "config.json").write_text('{"model_type": "demo"}')
    (folder / "README.md").write_text("# not fetched for a whole-repository model")
    yield folder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PekingU/rtdetr_v2_r18vd", HubModel("PekingU/rtdetr_v2_r18vd")),
        (
            "bartowski/Nemotron-Mini-4B-Instruct-GGUF/Nemotron-Mini-4B-Instruct-Q4_K_M.gguf",
            HubModel("bartowski/Nemotron-Mini-4B-Instruct-GGUF", "Nemotron-Mini-4B-Instruct-Q4_K_M.gguf"),
        ),
        ("acme/net/sub/model.gguf@v1.2", HubModel("acme/net", "sub/model.gguf", "v1.2")),
        ("/config/models/rtdetr_v2", Path("/config/models/rtdetr_v2")),
        ("~/models/x.gguf", Path("~/models/x.gguf")),
        ("./acme/net", Path("./acme/net")),
        ("not an id", Path("not an id")),
    ],
)
def test_a_model_setting_is_a_path_or_a_hub_id(text: str, expected: object) -> None:
    assert parse_model_ref(text) == expected


def test_an_existing_relative_folder_is_a_path_even_when_shaped_like_an_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme" / "net").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_model_ref("acme/net") == Path("acme/net")
    settings = load_settings(detector_model="acme/net", llm_model="acme/other/x.gguf")
    assert settings.detector_model == tmp_path / "acme" / "net"  # made absolute like every path
    assert settings.llm_model == HubModel("acme/other", "x.gguf")


async def test_a_file_is_fetched_once_verified_and_then_found_without_the_network(
    hub: StandInHub, repo: Path, tmp_path: Path
) -> None:
    hub.add("acme/camera-net", repo)
    fetcher = HubFetcher(HubModel("acme/camera-net", "weights.gguf"), tmp_path / "models")
    assert fetcher.cached() is None
    path = await fetcher.fetch()
    assert path.read_bytes() == (repo / "weights.gguf").read_bytes()
    assert fetcher.progress.report() | {"attempts": 1} == {
        "model": "acme/camera-net/weights.gguf",
        "state": "ready",
        "bytes_done": 1_280_000,
        "bytes_total": 1_280_000,
        "error": None,
        "attempts": 1,
    }
    assert not list(path.parent.glob("*.part"))
    requests = len(hub.requests)
    again = HubFetcher(HubModel("acme/camera-net", "weights.gguf"), tmp_path / "models")
    assert again.cached() == path
    assert len(hub.requests) == requests  # found locally: the Hub is not asked


async def test_a_whole_repository_model_fetches_its_configs_and_weights_only(
    hub: StandInHub, repo: Path, tmp_path: Path
) -> None:
    (repo / "model.safetensors").write_bytes(b"\0" * 1000)
    hub.add("acme/camera-net", repo)
    fetcher = HubFetcher(HubModel("acme/camera-net"), tmp_path / "models")
    folder = await fetcher.fetch()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "config.json",
        "model.safetensors",
    ]
    assert fetcher.cached() == folder


async def test_an_interrupted_download_resumes_where_it_stopped(
    hub: StandInHub, repo: Path, tmp_path: Path
) -> None:
    hub.add("acme/camera-net", repo)
    fetcher = HubFetcher(HubModel("acme/camera-net", "weights.gguf"), tmp_path / "models")
    whole = (repo / "weights.gguf").read_bytes()
    part = fetcher.folder / "weights.gguf.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[:500_000])  # what a killed server left behind
    path = await fetcher.fetch()
    assert path.read_bytes() == whole
    gets = [request for request in hub.requests if "/resolve/" in request.path]
    assert [request.range for request in gets] == ["bytes=500000-"]


async def test_bytes_that_do_not_match_their_hash_are_never_kept(
    hub: StandInHub, repo: Path, tmp_path: Path
) -> None:
    hub.add("acme/camera-net", repo).corrupt = True
    fetcher = HubFetcher(HubModel("acme/camera-net", "weights.gguf"), tmp_path / "models")
    with pytest.raises(DownloadFailed, match="does not match its hash"):
        await fetcher.fetch()
    assert fetcher.cached() is None
    assert not [p for p in fetcher.folder.iterdir() if p.name != ".hsi-download.json"]
    assert not (fetcher.folder / ".hsi-download.json").exists()


async def test_an_unknown_repository_or_file_is_a_clear_failure(
    hub: StandInHub, repo: Path, tmp_path: Path
) -> None:
    hub.add("acme/camera-net", repo)
    with pytest.raises(DownloadFailed, match=r"acme/missing: RepositoryNotFoundError"):
        await HubFetcher(HubModel("acme/missing"), tmp_path / "models").fetch()
    with pytest.raises(DownloadFailed, match=r"the repository has no other\.gguf"):
        await HubFetcher(HubModel("acme/camera-net", "other.gguf"), tmp_path / "models").fetch()


async def test_offline_mode_uses_what_is_here_and_says_so_otherwise(
    hub: StandInHub, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add("acme/camera-net", repo)
    models = tmp_path / "models"
    here = await HubFetcher(HubModel("acme/camera-net", "weights.gguf"), models).fetch()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    requests = len(hub.requests)
    assert HubFetcher(HubModel("acme/camera-net", "weights.gguf"), models).cached() == here
    with pytest.raises(DownloadFailed, match="OfflineModeIsEnabled"):
        await HubFetcher(HubModel("acme/camera-net"), models).fetch()
    assert len(hub.requests) == requests
