"""A tiny, valid, deterministic MP4 (ISO BMFF) built in code: the mock's generated video.

``mp4_video(seconds)`` is one video track of ``seconds`` frames, one per second, 16x16 pixels,
a few hundred bytes: ftyp, moov (mvhd, trak with tkhd, mdia: mdhd, hdlr, minf: vmhd, dinf,
stbl) and mdat. The movie's duration (mvhd) and the track's equal ``seconds``. The samples
are opaque bytes described as MPEG-4 Visual (``mp4v``): players may show no picture, but
box parsers and ffprobe read the structure and the duration.
"""

from __future__ import annotations

import struct
from functools import cache

WIDTH = HEIGHT = 16
TIMESCALE = 1000  # units per second
_FRAME = bytes(range(32))  # one opaque sample per second
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


@cache
def mp4_video(seconds: int) -> bytes:
    """An MP4 of ``seconds`` (1 or more) one-second frames."""
    if seconds < 1:
        raise ValueError("a video lasts at least one second")
    duration = seconds * TIMESCALE
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2mp41")
    mdat_payload = _FRAME * seconds

    def movie(mdat_offset: int) -> bytes:
        return box(b"moov", _mvhd(duration), _trak(seconds, duration, mdat_offset))

    # the chunk offset points into mdat, after ftyp and moov (whose size does not depend on it)
    mdat_offset = len(ftyp) + len(movie(0)) + 8
    return ftyp + movie(mdat_offset) + box(b"mdat", mdat_payload)


def _mvhd(duration: int) -> bytes:
    return full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, TIMESCALE, duration),
        struct.pack(">IH", 0x10000, 0x100),  # rate 1.0, volume 1.0
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", 2),  # next track id
    )


def _trak(seconds: int, duration: int, mdat_offset: int) -> bytes:
    tkhd = full_box(
        b"tkhd",
        0,
        3,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, 1, 0, duration),
        bytes(8),
        struct.pack(">HHHH", 0, 0, 0, 0),
        _MATRIX,
        struct.pack(">II", WIDTH << 16, HEIGHT << 16),
    )
    language = struct.pack(">HH", 0x55C4, 0)  # "und"
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, TIMESCALE, duration), language)
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
    vmhd = full_box(b"vmhd", 0, 1, bytes(8))
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    minf = box(b"minf", vmhd, dinf, _stbl(seconds, mdat_offset))
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def _stbl(seconds: int, mdat_offset: int) -> bytes:
    sample_entry = box(
        b"mp4v",
        bytes(6),
        struct.pack(">H", 1),  # data reference index
        bytes(16),
        struct.pack(">HH", WIDTH, HEIGHT),
        struct.pack(">II", 0x480000, 0x480000),  # 72 dpi
        bytes(4),
        struct.pack(">H", 1),  # frames per sample
        bytes(32),  # compressor name
        struct.pack(">Hh", 0x18, -1),
    )
    return box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), sample_entry),
        full_box(b"stts", 0, 0, struct.pack(">III", 1, seconds, TIMESCALE)),
        full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, seconds, 1)),
        full_box(b"stsz", 0, 0, struct.pack(">II", len(_FRAME), seconds)),
        full_box(b"stco", 0, 0, struct.pack(">II", 1, mdat_offset)),
    )
