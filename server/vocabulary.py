"""The words HSI's parts share, declared once: zone types and shapes, object groups, media types, and
the reasons a file is refused.

The data model, the alert rules, the analyzer, the media code and the API all import them from here,
so a new zone type or file type is one edit, and two parts can never disagree on what a word means.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

# --- zones ----------------------------------------------------------------------------------------


class ZoneType(StrEnum):
    """What a zone on a camera's view is; the analyzer weighs a presence there by it (a person at an
    entry point at night matters more than one on the sidewalk)."""

    ENTRY_POINT = "entry_point"
    DRIVEWAY = "driveway"
    SIDEWALK = "sidewalk"
    YARD = "yard"
    OTHER = "other"


class ZoneShape(StrEnum):
    """How a zone's coordinates are drawn: a 4-point axis-aligned box or an arbitrary polygon."""

    RECTANGLE = "rectangle"
    POLYGON = "polygon"


# --- objects --------------------------------------------------------------------------------------


class ObjectGroup(StrEnum):
    """What kind of thing a detector class is, as far as home security cares.

    A bicycle is its own group, `CYCLE`: the risk scorer weighs it apart from motor vehicles (a parked
    bicycle or a cyclist passing is not a car idling in the driveway at night, and "a bicycle at night"
    alone is not a "vehicle at night" pattern). Where only three kinds are shown (thumbnail colours,
    Home Assistant's activity sensors) a cycle shows as a vehicle: `SHOWN_AS`.
    """

    PERSON = "person"
    VEHICLE = "vehicle"
    CYCLE = "cycle"
    ANIMAL = "animal"
    OTHER = "other"


#: Detector (COCO) class -> group; any other class is `OTHER`. Vehicles are the road vehicles that can
#: arrive at a home; a train, boat or aeroplane in a home camera's view is far off or a misdetection,
#: so it is `OTHER`. Animals are the ten COCO animal classes.
OBJECT_GROUPS: Final[dict[str, ObjectGroup]] = {
    "person": ObjectGroup.PERSON,
    **dict.fromkeys(("car", "truck", "bus", "motorcycle"), ObjectGroup.VEHICLE),
    "bicycle": ObjectGroup.CYCLE,
    **dict.fromkeys(
        ("dog", "cat", "bird", "horse", "sheep", "cow", "bear", "elephant", "zebra", "giraffe"),
        ObjectGroup.ANIMAL,
    ),
}

#: The group a group is shown as where there are only person / vehicle / animal / other.
SHOWN_AS: Final[dict[ObjectGroup, ObjectGroup]] = {ObjectGroup.CYCLE: ObjectGroup.VEHICLE}


def group_of(object_type: str) -> ObjectGroup:
    """The group of a detector class name (case-insensitive)."""
    return OBJECT_GROUPS.get(object_type.lower(), ObjectGroup.OTHER)


def shown_group_of(object_type: str) -> ObjectGroup:
    """person, vehicle (bicycles included), animal or other."""
    group = group_of(object_type)
    return SHOWN_AS.get(group, group)


# --- media ----------------------------------------------------------------------------------------

#: Image files HSI takes, by extension (lower case) -> MIME type.
IMAGE_TYPES: Final[dict[str, str]] = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
#: Video files HSI takes, by extension -> MIME type.
VIDEO_TYPES: Final[dict[str, str]] = {
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mov": "video/quicktime",
}
MIME_BY_EXTENSION: Final[dict[str, str]] = IMAGE_TYPES | VIDEO_TYPES
IMAGE_EXTENSIONS: Final = frozenset(IMAGE_TYPES)
VIDEO_EXTENSIONS: Final = frozenset(VIDEO_TYPES)
#: MIME type -> the extension a file of that type is stored under (the first one listed: `.jpg`).
EXTENSION_BY_MIME: Final[dict[str, str]] = {}
for _extension, _mime in MIME_BY_EXTENSION.items():
    EXTENSION_BY_MIME.setdefault(_mime, _extension)
IMAGE_MIME_TYPES: Final = tuple(dict.fromkeys(IMAGE_TYPES.values()))
VIDEO_MIME_TYPES: Final = tuple(dict.fromkeys(VIDEO_TYPES.values()))
#: Image formats as Pillow names them (what the bytes are, whatever the name says) -> MIME type.
MIME_BY_IMAGE_FORMAT: Final[dict[str, str]] = {"JPEG": "image/jpeg", "PNG": "image/png"}
#: What a response carries for a stored file of any other extension.
UNKNOWN_MIME: Final = "application/octet-stream"


def mime_for_path(name: str) -> str:
    """The MIME type of a stored file by its name's extension (case-insensitive)."""
    dot = name.rfind(".")
    return MIME_BY_EXTENSION.get(name[dot:].lower(), UNKNOWN_MIME) if dot >= 0 else UNKNOWN_MIME


# --- rejections -----------------------------------------------------------------------------------


class Rejection(StrEnum):
    """How a refused file's reason begins (the log row and the API error say the rest: sizes, formats).

    The pipeline tells a file that has not fully arrived (`INCOMPLETE`) from one that is not usable by
    these words, so they are spelled here only.
    """

    FILE_NOT_FOUND = "file not found"
    NOT_REGULAR_FILE = "not a regular file"
    NOT_READABLE = "not readable by the server (permission denied: let the server's user read it)"
    EMPTY = "empty file"
    TOO_SMALL = "file too small"
    TRUNCATED = "truncated image"
    TRUNCATED_VIDEO = "truncated video"


#: Reasons that mean "not all of it has arrived yet" rather than "not an image": a file written to a
#: moment ago with one of these is looked at again later.
INCOMPLETE: Final = (
    Rejection.EMPTY.value,
    Rejection.TOO_SMALL.value,
    Rejection.TRUNCATED.value,
    Rejection.TRUNCATED_VIDEO.value,
)


def logged_reason(reason: str) -> str:
    """A rejection's reason as the log row states it: a file gone by the time it is read was deleted
    before it could be processed (the camera or a person removed it), which is worth saying."""
    if reason == Rejection.FILE_NOT_FOUND:
        return f"{Rejection.FILE_NOT_FOUND} (deleted before it could be processed)"
    return reason


# --- object classes -------------------------------------------------------------------------------

#: Other spellings of the same classes (Pascal VOC and older COCO label files), so a rule written for
#: "motorcycle" also matches a model that says "motorbike".
LABEL_ALIASES: dict[str, str] = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "tvmonitor": "tv",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "people": "person",
    "pedestrian": "person",
}


def normalize_label(label: str) -> str:
    """Lower-case, trimmed, underscores as spaces, with aliases folded into the COCO spelling."""
    cleaned = " ".join(label.strip().lower().replace("_", " ").split())
    return LABEL_ALIASES.get(cleaned, LABEL_ALIASES.get(cleaned.replace(" ", ""), cleaned))
