"""The default detector (packaged SSD-MobileNet-V2 COCO) on real photos and video frames marked by hand.

What a new user's first uploads meet: it must find the people, vehicles and animals a person sees
(IoU >= 0.5 with the hand-marked box, at the default confidence), and nothing on scenes without any.
`python -m bench.detection_accuracy` prints the same figures per class, for every backend.
"""

from __future__ import annotations

from collections import Counter

import pytest
from PIL import Image

from server.config import DEFAULT_SECURITY_CLASSES, Settings
from server.detect import DetectedObject, load_detector
from server.detect.base import BaseDetector
from tests.support.detection_scoring import Report, score_image, score_set
from tests.support.photos import EMPTY_SCENES, LABELLED, LabelledImage
from tests.support.real_media import media_path

SECURITY = frozenset(DEFAULT_SECURITY_CLASSES)
PEOPLE = frozenset({"person"})
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle", "bicycle"})
ANIMALS = frozenset({"dog", "cat", "bird"})


@pytest.fixture(scope="module")
def detector() -> BaseDetector:
    return load_detector(Settings())  # nothing configured: what `make run` and the add-on start with


@pytest.fixture(scope="module")
def found(detector: BaseDetector) -> list[list[DetectedObject]]:
    return [detector.detect([image.load()])[0] for image in LABELLED]


@pytest.fixture(scope="module")
def report(found: list[list[DetectedObject]]) -> Report:
    return score_set(LABELLED, found, SECURITY)


def _by_key(key: str) -> int:
    return next(index for index, image in enumerate(LABELLED) if image.key == key)


def test_the_default_is_the_packaged_coco_model(detector: BaseDetector) -> None:
    assert detector.name == "ssd_mobilenet" and not detector.fallback
    assert detector.classes == SECURITY


def test_finds_the_people_in_the_fields_best_known_photos(found: list[list[DetectedObject]]) -> None:
    bus = score_image(LABELLED[_by_key("bus.jpg")], found[_by_key("bus.jpg")], SECURITY)
    assert Counter(obj.label for obj in bus.found) == {"person": 3, "bus": 1}
    zidane = score_image(LABELLED[_by_key("zidane.jpg")], found[_by_key("zidane.jpg")], SECURITY)
    assert Counter(obj.label for obj in zidane.found) == {"person": 2}
    assert not bus.false_alarms and not zidane.false_alarms


@pytest.mark.parametrize(("group", "classes"), [("people", PEOPLE), ("vehicles", VEHICLES), ("animals", ANIMALS)])
def test_recall_of_each_group_is_at_least_80_percent(report: Report, group: str, classes: frozenset[str]) -> None:
    rows = {name: row for name, row in report.per_class().items() if name in classes}
    marked = sum(int(row["marked"] or 0) for row in rows.values())
    found = sum(int(row["found"] or 0) for row in rows.values())
    assert marked >= 3, f"the labelled set has too few {group} to say anything"
    assert found / marked >= 0.8, f"{group}: {found} of {marked} found ({rows})"


def test_overall_recall_and_precision(report: Report) -> None:
    assert report.marked >= 50
    assert report.recall >= 0.8, [(image.key, image.missed) for image in report.images if image.missed]
    assert report.precision >= 0.9, [(image.key, image.false_alarms) for image in report.images if image.false_alarms]


@pytest.mark.parametrize("name", EMPTY_SCENES)
def test_nothing_on_scenes_without_anything_of_a_security_class(detector: BaseDetector, name: str) -> None:
    with Image.open(media_path(name)) as image:
        assert detector.detect([image.convert("RGB")]) == [[]]


def test_a_batch_gives_each_image_what_it_gets_alone(
    detector: BaseDetector, found: list[list[DetectedObject]]
) -> None:
    picked: list[LabelledImage] = [LABELLED[_by_key(key)] for key in ("bus.jpg", "dog.jpg", "vtest.avi#200")]
    batch = detector.detect([image.load() for image in picked])
    for image, objects in zip(picked, batch, strict=True):
        alone = found[_by_key(image.key)]
        assert [(o.object_type, o.x, o.y, o.width, o.height) for o in objects] == [
            (o.object_type, o.x, o.y, o.width, o.height) for o in alone
        ]
