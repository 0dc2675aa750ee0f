"""A tiny, valid, deterministic MP4 (ISO BMFF) built in code: the mock's generated video.

``mp4_video(seconds)`` is one video track of ``seconds`` frames, one per second, 16x16 pixels,
about a hundred bytes a second: ftyp, moov (mvhd, trak with tkhd, mdia: mdhd, hdlr, minf:
vmhd, dinf, stbl) and mdat. The movie's duration (mvhd) and the track's equal ``seconds``.
Each frame is a PNG (sample entry ``png ``, which FFmpeg decodes; browsers would want H.264,
which cannot be written by hand in a few lines), its grey shade stepping with the second.
"""

from __future__ import annotations

import struct
import zlib
from functools import cache

WIDTH = HEIGHT = 16
TIMESCALE = 1000  # units per second
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
    frames = [_png_frame(second) for second in range(seconds)]

    def movie(mdat_offset: int) -> bytes:
        return box(b"moov", _mvhd(duration), _trak(frames, duration, mdat_offset))

    # the chunk offset points into mdat, after ftyp and moov (whose size does not depend on it)
    mdat_offset = len(ftyp) + len(movie(0)) + 8
    return ftyp + movie(mdat_offset) + box(b"mdat", *frames)


def _png_frame(index: int) -> bytes:
    """A WIDTH x HEIGHT grey PNG whose shade depends on ``index``."""
    shade = (index * 40 + 30) % 256
    rows = (b"\x00" + bytes([shade]) * WIDTH) * HEIGHT  # filter byte, then the pixels

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


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


def _trak(frames: list[bytes], duration: int, mdat_offset: int) -> bytes:
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
    minf = box(b"minf", vmhd, dinf, _stbl(frames, mdat_offset))
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def _stbl(frames: list[bytes], mdat_offset: int) -> bytes:
    count = len(frames)
    sample_entry = box(
        b"png ",
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
        full_box(b"stts", 0, 0, struct.pack(">III", 1, count, TIMESCALE)),
        full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, count, 1)),
        full_box(
            b"stsz",
            0,
            0,
            struct.pack(f">II{count}I", 0, count, *(len(frame) for frame in frames)),
        ),
        full_box(b"stco", 0, 0, struct.pack(">II", 1, mdat_offset)),
    )
