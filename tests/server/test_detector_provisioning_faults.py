"""Detector weights that are broken or moved: a local model folder cut short runs the default with a
reason (not a restart loop), a cut-short config.json is named as such, and a download resumed after the
repository moved on does not keep the previous commit's weights."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import huggingface_hub.constants
import pytest
from aiohttp import web

from server.config import Settings
from server.detect.provision import provision_detector
from server.hub import HubFetcher, HubModel
from tests.support.hub import Request, StandInHub

pytest.importorskip("torch")


class FlakyHub(StandInHub):
    """The stand-in Hub, where downloads of the file names in `failing` fail (a dropped transfer)."""

    failing: set[str]

    async def _resolve(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["path"] in getattr(self, "failing", set()):
            self.requests.append(Request(request.method, request.path, request.headers.get("Range")))
            raise web.HTTPNotFound(headers={"X-Error-Code": "EntryNotFound"}, text="connection dropped")
        return await super()._resolve(request)


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlakyHub]:
    stand_in = FlakyHub()
    stand_in.failing = set()
    endpoint = await stand_in.start()
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        huggingface_hub.constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )
    yield stand_in
    await stand_in.stop()


@pytest.fixture(scope="module")
def tiny_rtdetr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.rtdetr import build_tiny_rtdetr

    return build_tiny_rtdetr(tmp_path_factory.mktemp("rtdetr") / "tiny")


def _copy(model: Path, where: Path) -> Path:
    shutil.copytree(model, where)
    return where


# -- 1. a local model folder whose weights are cut short ------------------------------------------


def test_a_local_model_folder_with_truncated_weights_falls_back_like_a_missing_one(
    tiny_rtdetr: Path, tmp_path: Path
) -> None:
    """A review's finding: HSI_DETECTOR_MODEL=/config/rtdetr whose model.safetensors was cut short (an
    interrupted copy, a full disk) raised out of provision_detector, where a missing path or a Hub model
    that cannot be loaded runs the default with a reason: the detect child was restarted forever, inline
    the whole server went down, and nothing was ever detected."""
    folder = _copy(tiny_rtdetr, tmp_path / "rtdetr")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    settings = Settings(data_dir=tmp_path / "data", detector="auto", detector_model=folder)

    # For comparison: a path that does not exist is a degraded detector with a reason, not a crash.
    missing = provision_detector(
        Settings(data_dir=tmp_path / "data", detector="auto", detector_model=tmp_path / "nowhere")
    )
    assert missing.fallback and "does not exist" in missing.reason

    try:
        slot = provision_detector(settings)
    except Exception as err:  # noqa: BLE001
        pytest.fail(
            "a local detector folder with truncated weights stops the detect role from starting at all "
            f"(restart loop / server exit, nothing detected) instead of running the default: {err!r}"
        )
    assert slot.fallback, "the truncated model must not be reported as the configured, healthy detector"
    assert "cannot load it" in slot.reason and "weights" in slot.reason, slot.reason


def test_a_local_model_folder_with_a_corrupt_preprocessor_config_falls_back(
    tiny_rtdetr: Path, tmp_path: Path
) -> None:
    """Same, for preprocessor_config.json cut short: a bare OSError from transformers escaped."""
    folder = _copy(tiny_rtdetr, tmp_path / "rtdetr")
    processor = folder / "preprocessor_config.json"
    processor.write_text(processor.read_text()[:20])
    settings = Settings(data_dir=tmp_path / "data", detector="auto", detector_model=folder)
    try:
        slot = provision_detector(settings)
    except Exception as err:  # noqa: BLE001
        pytest.fail(
            "a local detector folder with a corrupt preprocessor_config.json kills the detect role "
            f"instead of running the default with a reason: {type(err).__name__}: {err}"
        )
    assert slot.fallback


# -- 2. a corrupt config.json is reported as the wrong architecture --------------------------------


def test_a_truncated_config_json_is_reported_as_unreadable_not_as_another_architecture(
    tiny_rtdetr: Path, tmp_path: Path
) -> None:
    """An RT-DETRv2 folder whose config.json was cut short was reported as 'a unknown model folder, not
    RT-DETR', sending the user after another model rather than the broken file."""
    folder = _copy(tiny_rtdetr, tmp_path / "rtdetr")
    config = folder / "config.json"
    config.write_text(config.read_text()[:-40])
    slot = provision_detector(Settings(data_dir=tmp_path / "data", detector="auto", detector_model=folder))
    assert slot.fallback
    assert "not RT-DETR" not in slot.reason and "config.json" in slot.reason, (
        f"health reason for a truncated config.json: {slot.reason!r}"
    )


# -- 3. an interrupted download finished after the repository changed -------------------------------


async def test_a_download_resumed_after_the_repository_changed_does_not_keep_the_old_weights(
    hub: FlakyHub, tiny_rtdetr: Path, tmp_path: Path
) -> None:
    """A review's finding: config.json and model.safetensors arrive and are verified, then the transfer
    of preprocessor_config.json drops; before the retry the repository's main branch gets retrained
    weights of the same size. The retry skipped model.safetensors on its size and wrote a manifest naming
    the new commit: the old weights with the new configuration, loaded as complete and verified."""
    upstream = _copy(tiny_rtdetr, tmp_path / "hub" / "acme" / "rtdetr")
    hub.add("acme/rtdetr", upstream)
    fetcher = HubFetcher(HubModel("acme/rtdetr"), tmp_path / "models")

    hub.failing = {"preprocessor_config.json"}
    with pytest.raises(Exception):
        await fetcher.fetch()
    assert (fetcher.folder / "model.safetensors").is_file()  # kept: it was verified (against commit A)

    # The repository moves on: retrained weights, same shapes, same size.
    weights = upstream / "model.safetensors"
    old = weights.read_bytes()
    new = old[:-64] + hashlib.sha256(b"retrained").digest() * 2
    assert len(new) == len(old)
    weights.write_bytes(new)
    hub.failing = set()

    folder = await fetcher.fetch()
    assert fetcher.cached() == folder
    assert (folder / "model.safetensors").read_bytes() == new, (
        "the model marked downloaded and verified (manifest names the new commit) holds the previous "
        "commit's weights: a mix of two revisions is loaded as if complete"
    )
