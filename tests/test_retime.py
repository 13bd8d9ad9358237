"""retime.py: footage frame maps keep duration; generated frames retime over the same span."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import media  # noqa: E402

from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.lengths import retime_count  # noqa: E402
from segue.video_utils.core.retime import (cfr_frame_map, conform_frame_map, conformed_frame_count,
                                           output_frame_count, source_frame_map)
from segue.video_utils.engine.retimer import Retimer
from reference import retime_frames, retime_indices, retime_weights

NTSC = Fraction(30000, 1001)
RATES = [Fraction(16), Fraction(24), Fraction(25), NTSC, Fraction(30), Fraction(60), Fraction(24000, 1001)]


def test_duration_is_kept_when_conforming_footage():
    assert len(cfr_frame_map(120, 24, 30)) == 150  # 5 s at 24 fps -> 150 frames at 30
    down = cfr_frame_map(150, 60, 30)  # 2.5 s at 60 fps -> 75 frames at 30, every other one
    assert down == list(range(0, 150, 2))
    assert cfr_frame_map(7, 25, 25) == list(range(7))
    assert cfr_frame_map(4, 8, 16) == [0, 0, 1, 1, 2, 2, 3, 3]
    for src in RATES:
        for out in RATES:
            for n in (1, 17, 81, 301):
                frames = cfr_frame_map(n, src, out)
                duration = Fraction(n) / src
                assert len(frames) == output_frame_count(duration, out)
                assert len(frames) / out <= duration < (len(frames) + 1) / out or len(frames) == 1
                assert frames == sorted(frames) and frames[0] == 0 and frames[-1] <= n - 1
                # output frame k shows the frame on screen at k / out
                assert all(Fraction(i) / src <= Fraction(k) / out < Fraction(i + 1) / src
                           for k, i in enumerate(frames))


def test_real_timestamps_pick_the_frame_on_screen():
    times = [Fraction(t, 1000) for t in (0, 33, 66, 150, 170, 190, 300, 310, 400, 500)]
    frames = source_frame_map(times, Fraction(533, 1000), 30)
    assert len(frames) == 15  # 0.533 s at 30 fps
    assert frames == [0, 1, 2, 2, 2, 3, 5, 5, 5, 6, 7, 7, 8, 8, 8]
    # t = 1/30 s = 33.3 ms shows the frame at 33 ms; t = 200 ms the frame at 190 ms
    assert frames[1] == 1 and frames[6] == 5
    # the grid of a constant-rate clip gives the constant-rate map
    grid = [Fraction(i) / NTSC for i in range(100)]
    assert source_frame_map(grid, Fraction(100) / NTSC, 16) == cfr_frame_map(100, NTSC, 16)
    with pytest.raises(PlanError):
        source_frame_map([], 1, 30)


def test_generated_frames_cover_the_same_span():
    for n in (17, 33, 81):
        for src, out in ((16, 30), (16, 24), (16, NTSC), (30, 16), (60, 16)):
            index = retime_indices(n, src, out)
            assert len(index) == retime_count(n, src, out)
            # first to last frame: the same span of time, to half an output frame
            assert abs(Fraction(len(index) - 1) / out - Fraction(n - 1) / src) <= Fraction(1, 2) / out
            assert index[0] == 0 and index == sorted(index)
            # the last frame is the last source frame, or (going down in rate) the one nearest
            # to where the last output frame sits: within half an output plus half a source frame
            assert Fraction(n - 1 - index[-1]) / src <= Fraction(1, 2) / out + Fraction(1, 2) / src
            if out > src:
                assert index[-1] == n - 1
            weights = retime_weights(n, src, out)
            assert len(weights) == len(index)
            assert all(0 <= w < 1 and j in (i, i + 1) for i, j, w in weights)


def test_end_anchor_keeps_the_last_frame_last():
    # 31 context frames at 30 fps as 16 fps guide frames, lined up on the clip's last frame
    index = retime_indices(31, 30, 16, count=9, anchor="end")
    assert index == [15, 17, 19, 21, 23, 24, 26, 28, 30]  # 30 - (8 - k) * 30/16, halves up
    assert retime_indices(31, 30, 16, count=9) == [0, 2, 4, 6, 8, 9, 11, 13, 15]
    with pytest.raises(PlanError, match="anchor"):
        retime_indices(5, 16, 30, anchor="middle")


def test_retime_frames_nearest_and_blend_are_exact_and_deterministic():
    n = 17
    frames = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 4, 6, 3).contiguous() / 100
    nearest = retime_frames(frames, 16, 30)
    assert nearest.shape == (retime_count(n, 16, 30), 4, 6, 3)
    assert torch.allclose(nearest[:, 0, 0, 0] * 100, torch.tensor(retime_indices(n, 16, 30), dtype=torch.float32))
    blend = retime_frames(frames, 16, 30, mode="blend")
    positions = torch.tensor([float(Fraction(k) * 16 / 30) for k in range(blend.shape[0])])
    assert torch.allclose(blend[:, 2, 3, 1] * 100, positions.clamp(max=n - 1), atol=1e-4)
    assert torch.equal(blend, retime_frames(frames, 16, 30, mode="blend"))
    assert torch.equal(retime_frames(frames, 16, 16), frames)
    with pytest.raises(PlanError, match="mode"):
        retime_frames(frames, 16, 30, mode="optical")


def test_counts_and_rates_are_checked():
    with pytest.raises(PlanError, match="frame rate"):
        cfr_frame_map(10, 0, 30)
    with pytest.raises(PlanError, match="frame count"):
        cfr_frame_map(0, 24, 30)
    with pytest.raises(PlanError, match="duration"):
        output_frame_count(0, 30)
    assert cfr_frame_map(10, 24, 30, count=3) == [0, 0, 1]


def test_maps_of_real_files(tmp_path):
    cfr = media.write_clip(tmp_path / "cfr.mp4", 32, 32, 24, 120)  # 5 s
    assert conformed_frame_count(cfr, 30) == 150 and conformed_frame_count(cfr) == 120
    assert conform_frame_map(cfr, 30) == cfr_frame_map(120, 24, 30)
    vfr = media.write_clip(tmp_path / "vfr.mkv", 32, 32, 30, times=[0, 0.05, 0.06, 0.2, 0.25])
    # 0.3 s (the last frame shown for the median 50 ms) in 50 ms steps: 60 ms is on screen at 100
    # and 150 ms, and nothing is shown before its timestamp
    assert conform_frame_map(vfr, 20) == [0, 1, 2, 2, 3, 4]
    assert conform_frame_map(vfr, 20, count=3) == [0, 1, 2]


def test_retimer_streams_like_the_batch_and_wraps_a_loop():
    g = torch.Generator().manual_seed(5)
    frames = torch.rand(21, 4, 6, 3, generator=g)
    for mode in ("nearest", "blend"):
        whole = retime_frames(frames, 16, 30, mode=mode)
        parts: list = []
        retimer = Retimer(_positions_for(21, 16, 30), parts.append, mode, chunk=5)
        for i in range(0, 21, 4):
            retimer.push(frames[i:i + 4])
        assert retimer.close() == whole.shape[0]
        assert torch.equal(torch.cat(parts), whole)
    # a loop's last output frames lie between the last frame and frame 0
    loop: list = []
    retimer = Retimer([Fraction(0), Fraction(5, 2)], loop.append, "blend", loop=True)
    retimer.push(frames[:3])
    retimer.close()
    assert torch.allclose(loop[0][1], (frames[2] + frames[0]) / 2)


def _positions_for(n, src, dst):
    from segue.video_utils.core.lengths import retime_count, retime_source
    return [retime_source(k, n, src, dst) for k in range(retime_count(n, src, dst))]
