"""How well a detector finds the hand-marked objects of `tests.support.photos`: recall and precision per class.

Matching is the usual one (PASCAL VOC): detections in order of confidence, each to the unmatched marked
object of an accepted class that it overlaps most, if that overlap is IoU >= 0.5. A detection matched to a
`difficult` object, or to an object of a class outside the set being scored, counts neither way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from server.detect import DetectedObject
from tests.support.photos import LabelledImage, Marked

IOU_THRESHOLD = 0.5


def iou(box: tuple[int, int, int, int], obj: DetectedObject) -> float:
    x0, y0, x1, y1 = box
    overlap_w = min(x1, obj.x + obj.width) - max(x0, obj.x)
    overlap_h = min(y1, obj.y + obj.height) - max(y0, obj.y)
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    overlap = overlap_w * overlap_h
    return overlap / ((x1 - x0) * (y1 - y0) + obj.width * obj.height - overlap)


@dataclass
class ImageScore:
    """One image: which marked objects were found, which detections were false alarms."""

    key: str
    found: list[Marked] = field(default_factory=list)
    missed: list[Marked] = field(default_factory=list)
    false_alarms: list[DetectedObject] = field(default_factory=list)


def score_image(
    image: LabelledImage, detections: Sequence[DetectedObject], classes: frozenset[str]
) -> ImageScore:
    """Match `detections` (of `classes`) to the image's marked objects."""
    score = ImageScore(image.key)
    unmatched = list(image.objects)
    for det in sorted(detections, key=lambda d: d.confidence, reverse=True):
        if det.object_type not in classes:
            continue
        candidates = [obj for obj in unmatched if det.object_type in obj.accepted]
        best = max(candidates, key=lambda obj: iou(obj.box, det), default=None)
        if best is None or iou(best.box, det) < IOU_THRESHOLD:
            score.false_alarms.append(det)
            continue
        unmatched.remove(best)
        if best.label in classes and not best.difficult:
            score.found.append(best)
    score.missed = [obj for obj in unmatched if obj.label in classes and not obj.difficult]
    return score


@dataclass
class Report:
    """Totals over a labelled set; per class, found and missed count by the marked label (a van found
    as "truck" is a car found), false alarms by the class the detector said."""

    images: list[ImageScore]

    def per_class(self) -> dict[str, dict[str, float | int | None]]:
        found = Counter(obj.label for image in self.images for obj in image.found)
        missed = Counter(obj.label for image in self.images for obj in image.missed)
        alarms = Counter(det.object_type for image in self.images for det in image.false_alarms)
        rows: dict[str, dict[str, float | int | None]] = {}
        for name in sorted(set(found) | set(missed) | set(alarms)):
            marked = found[name] + missed[name]
            rows[name] = {
                "marked": marked,
                "found": found[name],
                "false_alarms": alarms[name],
                "recall": round(found[name] / marked, 3) if marked else None,
            }
        return rows

    @property
    def found(self) -> int:
        return sum(len(image.found) for image in self.images)

    @property
    def marked(self) -> int:
        return self.found + sum(len(image.missed) for image in self.images)

    @property
    def false_alarms(self) -> int:
        return sum(len(image.false_alarms) for image in self.images)

    @property
    def recall(self) -> float:
        return self.found / self.marked if self.marked else 0.0

    @property
    def precision(self) -> float:
        detected = self.found + self.false_alarms
        return self.found / detected if detected else 1.0


def score_set(
    images: Iterable[LabelledImage], detections: Iterable[Sequence[DetectedObject]], classes: frozenset[str]
) -> Report:
    return Report([score_image(image, found, classes) for image, found in zip(images, detections, strict=True)])
