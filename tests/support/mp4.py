"""A minimal MP4 (ISO BMFF) reader for tests: the movie's duration from ``moov/mvhd``."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """The (type, payload) of each box between ``start`` and ``end``."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError(f"box {kind!r} at {offset} overruns the data")
        yield kind, data[offset + header : offset + size]
        offset += size


def child(payload: bytes, kind: bytes) -> bytes:
    found = next((body for name, body in boxes(payload) if name == kind), None)
    if found is None:
        raise ValueError(f"no {kind.decode()} box")
    return found


def duration_seconds(data: bytes) -> float:
    """The movie's duration (mvhd duration / timescale); ValueError when it is no MP4."""
    if next(boxes(data), (b"", b""))[0] != b"ftyp":
        raise ValueError("not an MP4: it does not start with ftyp")
    mvhd = child(child(data, b"moov"), b"mvhd")
    if mvhd[0] == 1:
        timescale, duration = struct.unpack_from(">IQ", mvhd, 20)
    else:
        timescale, duration = struct.unpack_from(">II", mvhd, 12)
    return duration / timescale
