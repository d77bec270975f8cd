"""Detectors through the product's own loader: a tiny random RT-DETRv2, the backend choice, the shared
filter, HOG on a real photo, and random RT-DETR/YOLO `.pt` files through the ultralytics backend (own
venv: support/ultralytics_check.py). The default detector on the hand-labelled real set:
test_detect_real.py."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from server.config import Settings
from server.detect import (
    COCO_CLASSES,
    DEFAULT_SECURITY_CLASSES,
    DetectedObject,
    Detector,
    DetectorUnavailable,
    choose_backend,
    load_detector,
)
from server.detect.base import RawBox, filter_boxes, normalize_label, resolve_label, to_pixel_box
from server.detect.hog import HogPeopleDetector, hog_confidence
from server.detect.rtdetr import RTDetrDetector
from server.detect.ssd_mobilenet import SsdMobileNetDetector
from server.detect.ultralytics_backend import ultralytics_importable
from tests.support.media import noise_image
from tests.support.photos import PEOPLE_WALKING_PERSONS, people_walking
from tests.support.rtdetr import build_tiny_rtdetr

torch = pytest.importorskip("torch")
EXPECTED_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_rtdetr(tmp_path_factory.mktemp("rtdetr") / "tiny-rtdetrv2")


@pytest.fixture(scope="module")
def detector_all(tiny_model: Path) -> Detector:
    """The tiny model with no confidence cut, so its random boxes all come through."""
    return load_detector(Settings(detector="rtdetr", detector_model=tiny_model, detection_confidence=0.0))


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    return [noise_image((640, 480), 1), noise_image((320, 240), 2), noise_image((500, 700), 3)]


@pytest.fixture(scope="module")
def batch_results(detector_all: Detector, images: list[Image.Image]) -> list[list[DetectedObject]]:
    return detector_all.detect(images)


def _assert_inside(objects: list[DetectedObject], image_size: tuple[int, int]) -> None:
    width, height = image_size
    for obj in objects:
        for value in (obj.x, obj.y, obj.width, obj.height):
            assert type(value) is int
        assert obj.x >= 0 and obj.y >= 0
        assert obj.width >= 1 and obj.height >= 1
        assert obj.x + obj.width <= width
        assert obj.y + obj.height <= height
        assert 0.0 <= obj.confidence <= 1.0


# --- RT-DETRv2 --------------------------------------------------------------------------------------


def test_rtdetr_loads_from_a_save_pretrained_folder(detector_all: Detector, tiny_model: Path) -> None:
    assert isinstance(detector_all, RTDetrDetector)
    assert isinstance(detector_all, Detector)
    assert detector_all.name == "rtdetr"
    assert detector_all.device == EXPECTED_DEVICE
    assert detector_all.fallback is False
    info = detector_all.info
    assert info.model == str(tiny_model)
    assert set(info.classes) == set(DEFAULT_SECURITY_CLASSES)


def test_auto_picks_rtdetr_for_a_model_folder(tiny_model: Path) -> None:
    settings = Settings(detector="auto", detector_model=tiny_model)
    assert choose_backend(settings) == "rtdetr"
    detector = load_detector(settings)
    assert isinstance(detector, RTDetrDetector)
    assert detector.fallback is False


def test_batch_returns_one_list_per_image_inside_its_bounds(
    batch_results: list[list[DetectedObject]], images: list[Image.Image]
) -> None:
    assert len(batch_results) == 3
    assert sum(len(objects) for objects in batch_results) > 0  # a random model at cut 0 finds noise
    for objects, image in zip(batch_results, images, strict=True):
        _assert_inside(objects, image.size)
        assert {obj.object_type for obj in objects} <= set(DEFAULT_SECURITY_CLASSES)
        confidences = [obj.confidence for obj in objects]
        assert confidences == sorted(confidences, reverse=True)


def test_batching_keeps_each_image_its_own_results(
    detector_all: Detector, batch_results: list[list[DetectedObject]], images: list[Image.Image]
) -> None:
    alone = detector_all.detect([images[2]])[0]
    in_batch = batch_results[2]
    assert [(o.object_type, o.x, o.y, o.width, o.height) for o in alone] == [
        (o.object_type, o.x, o.y, o.width, o.height) for o in in_batch
    ]
    assert [o.confidence for o in alone] == pytest.approx([o.confidence for o in in_batch], abs=1e-3)


def test_confidence_cut_keeps_exactly_the_boxes_at_or_above_it(
    tiny_model: Path, batch_results: list[list[DetectedObject]], images: list[Image.Image]
) -> None:
    confidences = sorted(obj.confidence for objects in batch_results for obj in objects)
    cut = confidences[len(confidences) // 2]
    expected = [[o for o in objects if o.confidence >= cut] for objects in batch_results]
    assert 0 < sum(map(len, expected)) < len(confidences)

    cut_detector = load_detector(
        Settings(detector="rtdetr", detector_model=tiny_model, detection_confidence=cut)
    )
    got = cut_detector.detect(images)
    assert [[(o.object_type, o.x, o.y) for o in objects] for objects in got] == [
        [(o.object_type, o.x, o.y) for o in objects] for objects in expected
    ]

    none_pass = load_detector(
        Settings(detector="rtdetr", detector_model=tiny_model, detection_confidence=1.0)
    )
    assert none_pass.detect(images) == [[], [], []]


def test_class_filter_keeps_only_configured_classes(
    tiny_model: Path, batch_results: list[list[DetectedObject]], images: list[Image.Image]
) -> None:
    kinds = {obj.object_type for objects in batch_results for obj in objects}
    keep = min(kinds)
    only = load_detector(
        Settings(
            detector="rtdetr", detector_model=tiny_model, detection_confidence=0.0, detection_classes=[keep]
        )
    )
    results = only.detect(images)
    assert {obj.object_type for objects in results for obj in objects} == {keep}
    # Every `keep` box of the unfiltered run is still there; more may be, since a box of another class
    # on the same object no longer suppresses it once that class is filtered out.
    for objects, unfiltered in zip(results, batch_results, strict=True):
        boxes = {(o.x, o.y, o.width, o.height) for o in objects}
        assert {(o.x, o.y, o.width, o.height) for o in unfiltered if o.object_type == keep} <= boxes


def test_inference_time_is_recorded_and_warmup_runs(tiny_model: Path, images: list[Image.Image]) -> None:
    detector = load_detector(Settings(detector="rtdetr", detector_model=tiny_model))
    assert detector.last_inference_ms is None
    detector.warmup()
    assert detector.detect([]) == []
    detector.detect(images[:1])
    assert detector.last_inference_ms is not None and detector.last_inference_ms > 0


def test_rtdetr_without_a_model_folder_names_the_variable(tmp_path: Path) -> None:
    for model in (None, tmp_path / "missing", tmp_path):
        with pytest.raises(DetectorUnavailable, match="HSI_DETECTOR_MODEL"):
            load_detector(Settings(detector="rtdetr", detector_model=model))


def test_rtdetr_folder_without_processor_config_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_bytes((tiny_model / "config.json").read_bytes())
    with pytest.raises(DetectorUnavailable, match=r"preprocessor_config\.json"):
        load_detector(Settings(detector="rtdetr", detector_model=partial))


def _tiny_detr(directory: Path) -> Path:
    """A tiny DETR (another transformers detector: `model_type: detr`) saved with save_pretrained."""
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig
    from transformers.models.detr import DetrImageProcessorPil

    backbone = ResNetConfig(
        depths=[1, 1, 1, 1], hidden_sizes=[32, 64, 128, 256], embedding_size=32, layer_type="basic",
        out_features=["stage4"],
    )  # fmt: skip
    config = DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False, d_model=64,
        encoder_layers=1, decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=20, num_labels=91,
    )  # fmt: skip
    DetrForObjectDetection(config).eval().save_pretrained(directory)
    DetrImageProcessorPil(size={"shortest_edge": 320, "longest_edge": 320}).save_pretrained(directory)
    return directory


def test_a_folder_of_another_architecture_is_not_run_as_rtdetr(tmp_path: Path) -> None:
    """The finding (a review, then tried): only config.json was checked, and RT-DETRv2's loader takes a
    DETR folder, drops every weight and runs a random model, reported as the configured one."""
    detr = _tiny_detr(tmp_path / "detr")
    auto = load_detector(Settings(detector="auto", detector_model=detr))
    assert isinstance(auto, SsdMobileNetDetector) and auto.fallback
    assert "is a detr model folder, not RT-DETR" in auto.reason
    with pytest.raises(DetectorUnavailable, match="a detr model, not RT-DETR"):
        load_detector(Settings(detector="rtdetr", detector_model=detr))


@pytest.mark.parametrize("damage", ["missing", "cut short"])
def test_rtdetr_weights_missing_or_cut_short_name_the_variable(
    tiny_model: Path, tmp_path: Path, damage: str
) -> None:
    """The finding (a review, then tried): transformers' OSError or safetensors' own error escaped, a
    library traceback naming neither the setting nor the folder."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in tiny_model.iterdir():
        data = file.read_bytes()
        if file.name == "model.safetensors":
            if damage == "missing":
                continue
            data = data[: len(data) // 2]
        (copy / file.name).write_bytes(data)
    with pytest.raises(DetectorUnavailable, match=f"HSI_DETECTOR_MODEL={copy}: its weights cannot be loaded"):
        load_detector(Settings(detector="auto", detector_model=copy))


# --- labels and the shared filter -----------------------------------------------------------------


def test_coco_names_are_the_80_classes_and_include_the_security_ones() -> None:
    assert len(COCO_CLASSES) == 80 and len(set(COCO_CLASSES)) == 80
    assert COCO_CLASSES[0] == "person" and COCO_CLASSES[2] == "car" and COCO_CLASSES[79] == "toothbrush"
    assert set(DEFAULT_SECURITY_CLASSES) <= set(COCO_CLASSES)
    assert len(DEFAULT_SECURITY_CLASSES) == 9


def test_generic_labels_map_to_coco_and_real_labels_are_normalised() -> None:
    assert resolve_label(0, {0: "LABEL_0"}) == "person"
    assert resolve_label(7, None) == "truck"
    assert resolve_label(3, {3: "Motorbike"}) == "motorcycle"
    assert resolve_label(5, {5: " Bus "}) == "bus"
    assert resolve_label(120, {}) == "class_120"
    assert normalize_label("traffic_light") == "traffic light"


def test_boxes_are_clipped_to_the_image_and_degenerate_ones_dropped() -> None:
    assert to_pixel_box(RawBox("person", 0.9, -5.2, 10.4, 700.0, 90.6), 640, 480) == (0, 10, 640, 81)
    assert to_pixel_box(RawBox("person", 0.9, 50, 60, 10, 20), 640, 480) == (10, 20, 40, 40)
    assert to_pixel_box(RawBox("person", 0.9, 700, 10, 800, 20), 640, 480) is None
    kept = filter_boxes(
        [
            RawBox("person", 0.7, 0, 0, 10, 10),
            RawBox("toaster", 0.99, 20, 0, 30, 10),
            RawBox("car", 0.49, 40, 0, 50, 10),
            RawBox("motorbike", 0.8, 60, 0, 70, 10),
        ],
        (640, 480),
        frozenset(DEFAULT_SECURITY_CLASSES),
        0.5,
    )
    assert [(o.object_type, o.confidence) for o in kept] == [("motorcycle", 0.8), ("person", 0.7)]


def test_a_box_of_numbers_that_are_not_numbers_is_no_object() -> None:
    """A review's suspicion, tried: fp16 on a GPU can overflow to NaN or infinity. A NaN score passed
    the cut (NaN < cut is false) and was stored; a NaN corner made round() raise, failing every file of
    the micro-batch."""
    nan, inf = float("nan"), float("inf")
    kept = filter_boxes(
        [
            RawBox("person", nan, 0, 0, 10, 10),
            RawBox("person", 0.9, nan, 0, 10, 10),
            RawBox("person", 0.9, 0, 0, inf, 10),
            RawBox("car", 0.8, 40, 0, 50, 10),
        ],
        (640, 480),
        frozenset(DEFAULT_SECURITY_CLASSES),
        0.5,
    )
    assert [(o.object_type, o.confidence) for o in kept] == [("car", 0.8)]


def test_one_object_named_twice_keeps_its_more_confident_name() -> None:
    kept = filter_boxes(
        [
            RawBox("car", 0.51, 644, 41, 723, 100),  # a van, as SSD-MobileNet sees it in vtest.avi
            RawBox("truck", 0.50, 644, 41, 725, 100),
            RawBox("dog", 0.88, 140, 208, 313, 535),
            RawBox("cat", 0.60, 140, 210, 310, 530),
            RawBox("person", 0.9, 150, 220, 200, 400),  # on the dog's box but a different object
            RawBox("dog", 0.7, 300, 208, 473, 535),  # a second dog beside the first
        ],
        (768, 576),
        frozenset(DEFAULT_SECURITY_CLASSES),
        0.5,
    )
    assert [(o.object_type, o.x) for o in kept] == [("person", 150), ("dog", 140), ("dog", 300), ("car", 644)]


# --- backend choice ---------------------------------------------------------------------------------


def test_auto_without_a_model_runs_the_packaged_coco_detector(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(detector="auto", detector_model=None)
    assert choose_backend(settings) == "ssd_mobilenet"
    with caplog.at_level(logging.INFO, logger="server.detect.factory"):
        detector = load_detector(settings)
    assert isinstance(detector, SsdMobileNetDetector)
    assert detector.fallback is False and detector.device == "cpu"
    assert detector.model is not None and detector.model.endswith("frozen_inference_graph.pb")
    assert "HSI_DETECTOR_MODEL is not set" in detector.reason and "SSD-MobileNet-V2" in detector.reason
    assert [r.levelno for r in caplog.records] == [logging.INFO] and detector.reason in caplog.text


def test_auto_with_an_unusable_model_runs_the_default_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    for model, problem in ((tmp_path / "missing", "does not exist"), (tmp_path, "is neither a model folder")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="server.detect.factory"):
            detector = load_detector(Settings(detector="auto", detector_model=model))
        assert isinstance(detector, SsdMobileNetDetector) and detector.fallback is True
        assert f"HSI_DETECTOR_MODEL={model} {problem}" in detector.reason
        assert any(r.levelno == logging.WARNING and problem in r.getMessage() for r in caplog.records)


def test_ssd_loads_a_user_frozen_graph_from_a_folder_or_a_pb_path(tmp_path: Path) -> None:
    packaged = SsdMobileNetDetector(classes=["person"], confidence=0.5).model
    assert packaged is not None
    graph = Path(packaged)
    folder = tmp_path / "my-ssd"
    folder.mkdir()
    (folder / "model.pb").symlink_to(graph)
    (folder / "model.pbtxt").symlink_to(graph.parent / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt")
    for model in (folder, folder / "model.pb"):
        settings = Settings(detector="auto", detector_model=model)
        assert choose_backend(settings) == "ssd_mobilenet"
        detector = load_detector(settings)
        assert detector.model == str(folder / "model.pb") and not detector.fallback
    (folder / "model.pbtxt").unlink()
    with pytest.raises(DetectorUnavailable, match=r"\.pbtxt beside it"):
        load_detector(Settings(detector="ssd_mobilenet", detector_model=folder / "model.pb"))


def test_hog_chosen_on_purpose_is_not_a_fallback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="server.detect.factory"):
        detector = load_detector(Settings(detector="hog"))
    assert detector.fallback is False
    assert not caplog.records


def test_hog_finds_the_people_in_a_real_street_photo() -> None:
    detector = load_detector(Settings(detector="hog"))
    found = detector.detect([Image.open(people_walking())])[0]
    assert all(obj.object_type == "person" and obj.confidence >= 0.5 for obj in found)

    def people_covered(obj: DetectedObject) -> set[int]:
        return {
            index
            for index, (x0, y0, x1, y1) in enumerate(PEOPLE_WALKING_PERSONS)
            if obj.x <= (x0 + x1) / 2 <= obj.x + obj.width and obj.y <= (y0 + y1) / 2 <= obj.y + obj.height
        }

    # Every box sits on a real person, and at least three different people are found.
    assert all(people_covered(obj) for obj in found)
    assert len(set().union(*(people_covered(obj) for obj in found))) >= 3


def test_hog_reports_nobody_where_there_is_nobody() -> None:
    detector = HogPeopleDetector(classes=["person"], confidence=0.5)
    # The lower half of the same real scene: grass, a tripod, the path; no one walking there.
    empty_scene = Image.open(people_walking()).crop((0, 290, 768, 576))
    results = detector.detect([Image.new("RGB", (640, 480), (90, 120, 90)), empty_scene])
    assert results == [[], []]


def test_hog_confidence_is_a_monotonic_squash_into_0_1() -> None:
    margins = [-2.0, 0.0, 0.5, 1.0, 1.5, 2.0, 4.0]
    values = [hog_confidence(m) for m in margins]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert all(0.0 < v < 1.0 for v in values)
    assert hog_confidence(1.0) == pytest.approx(0.5)


def test_hog_ignores_classes_it_cannot_see() -> None:
    detector = load_detector(Settings(detector="hog", detection_classes=["car", "dog"]))
    assert detector.detect([Image.open(people_walking())]) == [[]]


# --- ultralytics ----------------------------------------------------------------------------------


def test_ultralytics_needs_a_weights_file(tmp_path: Path) -> None:
    with pytest.raises(DetectorUnavailable, match="HSI_DETECTOR_MODEL"):
        load_detector(Settings(detector="ultralytics", detector_model=tmp_path / "missing.pt"))
    with pytest.raises(DetectorUnavailable, match="HSI_DETECTOR_MODEL"):
        load_detector(Settings(detector="ultralytics", detector_model=tmp_path))


@pytest.mark.skipif(ultralytics_importable(), reason="checks the error shown when ultralytics is absent")
def test_ultralytics_without_the_package_is_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    weights = tmp_path / "rtdetr-l.pt"
    weights.write_bytes(b"not loaded")
    with pytest.raises(DetectorUnavailable, match="ultralytics"):
        load_detector(Settings(detector="ultralytics", detector_model=weights))
    # `auto` with such a file cannot use it either: the default, with a warning that says why.
    with caplog.at_level(logging.WARNING, logger="server.detect.factory"):
        detector = load_detector(Settings(detector="auto", detector_model=weights))
    assert isinstance(detector, SsdMobileNetDetector) and detector.fallback
    assert any("ultralytics" in r.getMessage() for r in caplog.records)


#: The ultralytics backend's own venv (`make setup-ultralytics`): it needs torchvision, kept out of this one.
ULTRALYTICS_PYTHON = Path(__file__).resolve().parents[2] / ".venv-ultralytics" / "bin" / "python"
#: Random weights score 0.2..0.5 (tests/support/ultralytics_check.py): some boxes pass, some do not.
ULTRALYTICS_CUT = 0.2


@pytest.fixture(scope="module")
def ultralytics_run() -> dict[str, Any]:
    """Random RT-DETR and YOLO `.pt` files through `load_detector`, on two real photos, in that venv."""
    if not ULTRALYTICS_PYTHON.exists():
        pytest.skip(".venv-ultralytics is absent (`make setup-ultralytics` builds it)")
    run = subprocess.run(
        [
            str(ULTRALYTICS_PYTHON),
            "-m",
            "tests.support.ultralytics_check",
            str(ULTRALYTICS_CUT),
            ",".join(COCO_CLASSES),
        ],
        check=False,
        cwd=ULTRALYTICS_PYTHON.parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    report: dict[str, Any] = json.loads(run.stdout.splitlines()[-1])
    return report


def _objects(batch: list[list[dict[str, Any]]]) -> list[list[DetectedObject]]:
    return [[DetectedObject(**obj) for obj in objects] for objects in batch]


def test_ultralytics_file_name_picks_the_loader(ultralytics_run: dict[str, Any]) -> None:
    models = ultralytics_run["models"]
    assert {name: model["loader"] for name, model in models.items()} == {
        "rtdetr-l.pt": "RTDETR",
        "yolo11n.pt": "YOLO",
    }
    for model in models.values():
        assert model["backend"] == "ultralytics" and model["device"] == EXPECTED_DEVICE
        assert model["classes"] == sorted(COCO_CLASSES)
        assert model["last_inference_ms"] > 0


@pytest.mark.parametrize("weights", ["rtdetr-l.pt", "yolo11n.pt"])
def test_ultralytics_finds_boxes_shaped_like_every_backend_s(
    ultralytics_run: dict[str, Any], weights: str
) -> None:
    sizes = [(width, height) for width, height in ultralytics_run["images"]]
    batch = _objects(ultralytics_run["models"][weights]["batch"])
    assert len(batch) == len(sizes) == 2
    for objects, size in zip(batch, sizes, strict=True):
        assert objects  # random weights at a low cut still find boxes, in every image of the batch
        _assert_inside(objects, size)
        # The RT-DETR file names its classes "0".."79" (built without a label map): read as COCO ids.
        assert all(type(obj.object_type) is str and obj.object_type in COCO_CLASSES for obj in objects)
        assert all(type(obj.confidence) is float and obj.confidence >= ULTRALYTICS_CUT for obj in objects)
        confidences = [obj.confidence for obj in objects]
        assert confidences == sorted(confidences, reverse=True)


def test_ultralytics_batch_keeps_each_image_its_own_results(ultralytics_run: dict[str, Any]) -> None:
    # RT-DETR stretches every image to one square input, so an image's boxes cannot depend on its
    # batch; YOLO letterboxes a lone image tighter than a mixed batch, so only RT-DETR is compared.
    model = ultralytics_run["models"]["rtdetr-l.pt"]
    # Compared in box order: confidences that tie at 4 decimals may swap places between runs.
    alone, in_batch = (
        sorted(objects, key=lambda o: (o.object_type, o.x, o.y, o.width, o.height))
        for objects in (_objects(model["alone"])[0], _objects(model["batch"])[1])
    )
    assert [(o.object_type, o.x, o.y, o.width, o.height) for o in alone] == [
        (o.object_type, o.x, o.y, o.width, o.height) for o in in_batch
    ]
    assert [o.confidence for o in alone] == pytest.approx([o.confidence for o in in_batch], abs=1e-3)
