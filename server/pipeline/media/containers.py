"""Whether a recording holds every byte its container says it has: a half-written upload is not a video.

A camera or an FTP client may close a recording between pieces (a resumed upload, a writer that
flushes and reopens). The first piece of an MP4 whose index comes first (`faststart`) plays, so PyAV
alone would let it in, its detections would be stored, and the whole file, once it has arrived, would
be detected again: the first half's detections twice. So intake reads the container's own sizes first:

* MP4 / MOV (ISO base media): the top-level boxes must tile the file, and one of them must be the index
  (`moov`); a box running past the end, or no index, means the rest has not arrived;
* Matroska / WebM: the `Segment` must fit in the file when its size is written (a writer that is still
  at it may leave it "unknown", and then nothing can be told);
* AVI: the `RIFF` chunk must fit in the file (0 while a writer is at it: nothing can be told).

A file that fails is "truncated video" (`Rejection.TRUNCATED_VIDEO`): the watcher looks again when the
writer closes it again, and rejects it only once it stopped changing (`server.pipeline.intake`). Only
a few header bytes are read. Not caught: a fragmented MP4 cut exactly between two fragments, which is a
complete shorter recording by every measure a reader has.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from server.pipeline.media.errors import MediaError
from server.vocabulary import Rejection

#: Top-level box types that start an ISO base media file (QuickTime files may start with any of them).
_ISO_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"})
#: Boxes that index the samples: `moov` (a fragmented file also has one, ahead of its fragments).
_ISO_INDEX = b"moov"
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = 0x18538067


def check_complete(path: Path) -> None:
    """Raise `MediaError` ("truncated video (…)") when the container announces more than the file has."""
    with path.open("rb") as file:
        size = path.stat().st_size
        head = file.read(12)
        if head[4:8] in _ISO_FIRST_BOXES:
            missing = _iso_missing(file, size)
        elif head[:4] == _EBML_MAGIC:
            missing = _matroska_missing(file, size)
        elif head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            announced = struct.unpack("<I", head[4:8])[0]
            missing = f"its RIFF chunk ends at byte {8 + announced}" if announced and 8 + announced > size else None
        else:
            missing = None  # another container: PyAV's reading is all there is
    if missing is not None:
        raise MediaError(f"{Rejection.TRUNCATED_VIDEO} ({missing}, the file has {size} bytes)")


def _iso_missing(file: BinaryIO, size: int) -> str | None:
    """What an ISO base media file lacks: a box past its end, or the index."""
    offset, indexed = 0, False
    while offset + 8 <= size:
        file.seek(offset)
        header = file.read(16)
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1 and len(header) == 16:  # a 64-bit size follows
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # the last box, to the end of the file
            length = size - offset
        if length < 8:
            break  # not a box: padding some writers leave at the end (players ignore it too)
        indexed = indexed or kind == _ISO_INDEX
        if offset + length > size:
            return f"its {kind.decode('latin-1')!r} box ends at byte {offset + length}"
        offset += length
    return None if indexed else "it has no 'moov' index yet"


def _matroska_missing(file: BinaryIO, size: int) -> str | None:
    """What a Matroska file lacks: the part of its Segment past the end (when the size is written)."""
    file.seek(0)
    data = file.read(64)
    position = 0
    for _ in range(2):  # the EBML header, then the Segment
        element, position = _vint(data, position, keep_marker=True)
        length, position = _vint(data, position, keep_marker=False)
        if element is None or length is None and element != _MATROSKA_SEGMENT:
            return None  # not the layout a reader can measure; PyAV decides
        if element == _MATROSKA_SEGMENT:
            if length is not None and position + length > size:
                return f"its Segment ends at byte {position + length}"
            return None
        position += length or 0
    return None


def _vint(data: bytes, position: int, *, keep_marker: bool) -> tuple[int | None, int]:
    """An EBML variable-length integer at `position`: (value, next position); value None when it is
    cut off, longer than 8 bytes, or (a size) all ones, which EBML reads as "unknown"."""
    if position >= len(data) or data[position] == 0:
        return None, position
    width = 8 - data[position].bit_length() + 1
    if position + width > len(data):
        return None, position + width
    raw = int.from_bytes(data[position : position + width], "big")
    if keep_marker:
        return raw, position + width
    value = raw & ((1 << (7 * width)) - 1)
    return (None if value == (1 << (7 * width)) - 1 else value), position + width
