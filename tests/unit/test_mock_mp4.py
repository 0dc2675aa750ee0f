"""The mock upstreams' generated MP4, read back by the tests' own box parser."""

from __future__ import annotations

import pytest

from devstack.upstreams.mp4 import mp4_video
from tests.support.mp4 import boxes, duration_seconds


@pytest.mark.parametrize("seconds", [1, 4, 12])
def test_generated_mp4_is_small_deterministic_and_lasts_the_requested_seconds(seconds):
    video = mp4_video(seconds)

    assert duration_seconds(video) == seconds
    assert [kind for kind, _ in boxes(video)] == [b"ftyp", b"moov", b"mdat"]
    assert len(video) < 4096
    assert mp4_video.__wrapped__(seconds) == video  # built again, not only cached


@pytest.mark.parametrize("junk", [b"", b"not an mp4 at all", mp4_video(4)[:100]])
def test_the_parser_rejects_what_is_not_a_whole_mp4(junk):
    with pytest.raises(ValueError):
        duration_seconds(junk)
