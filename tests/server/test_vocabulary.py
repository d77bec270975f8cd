"""The shared vocabulary is the one every part uses: one zone type, one group table, one MIME table."""

from __future__ import annotations

import io

from PIL import Image

from server import vocabulary
from server.alerts import zones as alert_zones
from server.analyze import context
from server.analyze.backends import rules
from server.api import ingest
from server.api import media as api_media
from server.models import enums
from server.pipeline import media
from server.vocabulary import ObjectGroup, Rejection, ZoneShape, ZoneType


def test_models_alerts_and_analysis_share_one_zone_type_and_shape() -> None:
    assert enums.ZoneType is alert_zones.ZoneType is context.ZoneType is rules.ZoneType is ZoneType
    assert enums.ZoneShape is alert_zones.ZoneShape is ZoneShape
    # The PostgreSQL enum types hold exactly the vocabulary's values.
    assert list(enums.zone_type_type.enums) == [member.value for member in ZoneType]
    assert list(enums.zone_shape_type.enums) == [member.value for member in ZoneShape]


def test_a_bicycle_is_a_cycle_scored_apart_and_shown_as_a_vehicle() -> None:
    assert vocabulary.group_of("bicycle") is ObjectGroup.CYCLE
    assert vocabulary.shown_group_of("bicycle") is ObjectGroup.VEHICLE
    assert media.box_colour("bicycle") == media.box_colour("car") == media.VEHICLE_COLOUR
    # The rules scorer has a row for cycles of its own, apart from motor vehicles.
    assert rules.BASE[ObjectGroup.CYCLE] != rules.BASE[ObjectGroup.VEHICLE]


def test_every_part_groups_objects_by_the_one_table() -> None:
    for name, group in vocabulary.OBJECT_GROUPS.items():
        shown = vocabulary.SHOWN_AS.get(group, group)
        colour = {
            ObjectGroup.PERSON: media.PERSON_COLOUR,
            ObjectGroup.VEHICLE: media.VEHICLE_COLOUR,
            ObjectGroup.ANIMAL: media.ANIMAL_COLOUR,
        }
        assert media.box_colour(name) == colour[shown], name
    for stray in ("train", "airplane", "backpack"):
        assert vocabulary.group_of(stray) is ObjectGroup.OTHER
        assert media.box_colour(stray) == media.OTHER_COLOUR
    assert vocabulary.group_of("Person") is ObjectGroup.PERSON


def test_every_accepted_file_type_is_served_and_ingested_as_the_same_mime_type() -> None:
    for extension, mime in vocabulary.MIME_BY_EXTENSION.items():
        name = f"upload{extension.upper()}"
        assert media.media_type(name) is not None
        assert media.mime_for_path(name) == api_media.content_type(name) == mime
        assert ingest.EXTENSIONS[mime] in vocabulary.MIME_BY_EXTENSION
    assert ingest.EXTENSIONS["image/jpeg"] == ".jpg"
    assert api_media.content_type("notes.txt") == vocabulary.UNKNOWN_MIME == media.mime_for_path("x")
    assert set(vocabulary.IMAGE_MIME_TYPES) == set(vocabulary.MIME_BY_IMAGE_FORMAT.values())


def test_incomplete_uploads_are_told_apart_by_the_words_media_uses() -> None:
    """Intake waits for a file whose reason starts with one of `INCOMPLETE`: media must say exactly those."""
    buffer = io.BytesIO()
    Image.effect_noise((400, 300), 64).convert("RGB").save(buffer, "JPEG", quality=95)
    whole = buffer.getvalue()
    assert len(whole) > 2 * media.MIN_IMAGE_BYTES
    cases = ((b"", Rejection.EMPTY), (whole[:100], Rejection.TOO_SMALL), (whole[:-2], Rejection.TRUNCATED))
    for attempt, rejection in cases:
        try:
            media.inspect_image(attempt)
        except media.MediaError as err:
            assert err.reason.startswith(rejection), err.reason
            assert err.reason.startswith(vocabulary.INCOMPLETE), err.reason
        else:
            raise AssertionError(f"{rejection}: accepted")
    try:
        media.inspect_image(b"GIF89a" + bytes(media.MIN_IMAGE_BYTES))
    except media.MediaError as err:
        assert not err.reason.startswith(vocabulary.INCOMPLETE), err.reason
    assert vocabulary.logged_reason(Rejection.FILE_NOT_FOUND).startswith("file not found (deleted")
    assert vocabulary.logged_reason("corrupt image (x)") == "corrupt image (x)"
