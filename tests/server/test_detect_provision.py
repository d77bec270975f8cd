"""`provision_detector` and `DetectorSlot`: a Hub model that cannot run never stops detection.

(The download itself, through a real server process and a stand-in Hub, is in test_models_by_name.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.config import Settings
from server.detect.provision import DetectorSlot, provision_detector
from server.hub import MANIFEST, HubFetcher, HubModel

pytest.importorskip("torch")


def _downloaded_but_unloadable(settings: Settings, model: HubModel) -> Path:
    """What HubFetcher leaves for a repository that has a config.json but no preprocessor_config.json:
    a complete, verified download (manifest written) that the RT-DETRv2 loader refuses."""
    folder = HubFetcher(model, settings.models_dir).folder
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "rt_detr_v2"}')
    manifest = {
        "model": str(model),
        "commit": "0" * 40,
        "files": {"config.json": (folder / "config.json").stat().st_size},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


async def test_a_cached_hub_model_that_cannot_load_falls_back_at_restart_as_it_did_at_download(
    tmp_path: Path,
) -> None:
    """The finding (a review, then tried): a Hub model downloaded but not loadable (here a repository
    without preprocessor_config.json) left the default running after the download, but at the next
    start it was found cached, loaded unguarded, and the detect role never came up again."""
    model = HubModel("acme/detector-without-processor")
    settings = Settings(data_dir=tmp_path, detector="auto", detector_model=model)
    folder = _downloaded_but_unloadable(settings, model)

    # First start: the download finishes, the switch fails, and the default keeps running.
    first = provision_detector(Settings(data_dir=tmp_path / "fresh", detector="auto", detector_model=model))
    assert first.fetcher is not None and first.fallback
    await first.switch_to(settings, folder)
    assert first.fallback and first.load_error is not None

    # Next start: the same files are found cached; detection must still come up on the default.
    slot = provision_detector(settings)
    assert isinstance(slot, DetectorSlot)
    assert slot.fallback
    assert "acme/detector-without-processor is downloaded but cannot load it" in slot.reason
    assert "preprocessor_config.json is missing" in slot.reason
