"""probe.py: exact counts, rates, variable rates, displayed sizes, sound, and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import media  # noqa: E402

from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.probe import Orientation, clear_cache, exact_rate, frame_times, probe  # noqa: E402

VFR_TIMES = [0.0, 0.033, 0.066, 0.15, 0.17, 0.19, 0.3, 0.31, 0.4, 0.5]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe")
    return {
        "hd": media.write_clip(d / "hd.mp4", 1920, 1080, 30, 30, audio=(440, 48_000, "stereo")),
        "square": media.write_clip(d / "square.mp4", 350, 350, 16, 16, audio=(660, 44_100, "mono")),
        "720p": media.write_clip(d / "720p.mp4", 1280, 720, 24, 24),
        "ntsc_mkv": media.write_clip(d / "ntsc.mkv", 64, 48, Fraction(30000, 1001), 45),
        "portrait": media.write_clip(d / "portrait.mp4", 320, 176, 30, 6, rotation=90),
        "vfr": media.write_clip(d / "vfr.mp4", 160, 96, 30, times=VFR_TIMES, audio=(500, 48_000, "mono")),
        "vfr_mkv": media.write_clip(d / "vfr.mkv", 160, 96, 30, times=VFR_TIMES),
        "anamorphic": media.write_clip(d / "dv.mp4", 720, 480, 30, 4, sample_aspect=Fraction(8, 9)),
    }


def test_sizes_rates_counts_and_sound(clips):
    hd = probe(clips["hd"])
    assert (hd.frame_count, hd.fps, hd.variable_rate, hd.duration) == (30, 30, False, 1)
    assert (hd.stored_width, hd.stored_height, hd.width, hd.height) == (1920, 1080, 1920, 1080)
    assert hd.orientation.identity and hd.pixel_aspect == 1 and hd.codec == "h264"
    assert hd.audio.sample_rate == 48_000 and hd.audio.channels == 2 and hd.audio.layout == "stereo"
    assert abs(hd.audio.duration - 1.0) < 1 / 30 and abs(hd.audio.start) < 1 / 30

    square = probe(clips["square"])
    assert (square.frame_count, square.fps, square.width, square.height) == (16, 16, 350, 350)
    assert (square.audio.sample_rate, square.audio.channels, square.audio.layout) == (44_100, 1, "mono")
    assert abs(square.audio.duration - 1.0) < 1 / 16

    plain = probe(clips["720p"])
    assert (plain.frame_count, plain.fps, plain.width, plain.height) == (24, 24, 1280, 720)
    assert plain.audio is None and not plain.has_audio
    assert isinstance(plain.fps, Fraction) and isinstance(plain.duration, Fraction)


def test_matroska_keeps_no_count_but_the_probe_counts(clips):
    path = clips["ntsc_mkv"]
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # nothing to trust in the header
    info = probe(path)
    assert info.frame_count == 45
    assert info.fps == Fraction(30000, 1001) and not info.variable_rate  # 1 ms ticks, still constant
    assert info.duration == Fraction(45 * 1001, 30000)


def test_portrait_clip_is_reported_as_displayed(clips):
    info = probe(clips["portrait"])
    assert (info.stored_width, info.stored_height) == (320, 176)
    assert (info.width, info.height) == (176, 320)
    assert info.rotation == 90 and info.orientation == Orientation(transpose=True, flip_h=False, flip_v=True)


@pytest.mark.parametrize("rotation, hflip, expected", [
    (90, False, lambda a: np.rot90(a, 1)),
    (180, False, lambda a: np.rot90(a, 2)),
    (270, False, lambda a: np.rot90(a, 3)),
    (0, True, lambda a: a[:, ::-1]),
    (90, True, lambda a: np.rot90(a, 1)[:, ::-1]),
])
def test_every_display_matrix_orientation(tmp_path, rotation, hflip, expected):
    """PyAV's ``set_display_rotation`` (counter-clockwise, then mirror) read back as the same
    transform of the pixels; cross-checked against the ffmpeg CLI's autorotation when writing it."""
    path = media.write_clip(tmp_path / "o.mp4", 48, 32, 24, 1, rotation=rotation, hflip=hflip)
    orientation = probe(path).orientation
    grid = np.arange(32 * 48).reshape(32, 48)
    mine = grid.T if orientation.transpose else grid
    if orientation.flip_h:
        mine = mine[:, ::-1]
    if orientation.flip_v:
        mine = mine[::-1]
    assert np.array_equal(mine, expected(grid))


def test_variable_frame_rate_uses_real_timestamps(clips):
    for key in ("vfr", "vfr_mkv"):
        info = probe(clips[key])
        assert info.variable_rate and info.frame_count == len(VFR_TIMES)
        times = frame_times(clips[key])
        assert [float(t) for t in times] == pytest.approx(VFR_TIMES, abs=1e-3)
        # the last frame is shown for the typical interval (33 ms)
        assert float(info.duration) == pytest.approx(0.533, abs=2e-3)
        assert info.fps == Fraction(len(VFR_TIMES)) / info.duration
    assert probe(clips["vfr"]).audio.sample_rate == 48_000


def test_constant_rate_frame_times_are_the_exact_grid(clips):
    assert frame_times(clips["ntsc_mkv"])[:3] == (0, Fraction(1001, 30000), Fraction(2002, 30000))


def test_non_square_pixels_give_the_displayed_width(clips):
    info = probe(clips["anamorphic"])
    assert info.pixel_aspect == Fraction(8, 9)
    assert (info.stored_width, info.width, info.height) == (720, 640, 480)


def test_exact_rate():
    assert exact_rate(Fraction(19001, 317)) == Fraction(60000, 1001)  # Matroska's 59.94
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate(Fraction(25)) == 25 and exact_rate(23.976) == Fraction(24000, 1001)
    with pytest.raises(PlanError, match="frame rate"):
        exact_rate(0)


def test_files_that_are_not_clips_say_what_to_do(tmp_path, clips):
    with pytest.raises(PlanError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(PlanError, match="empty.mp4.*empty file"):
        probe(tmp_path / "empty.mp4")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(PlanError, match="noise.mp4.*cannot be opened"):
        probe(tmp_path / "noise.mp4")
    data = Path(clips["720p"]).read_bytes()  # index (moov) at the end: half a file has none
    (tmp_path / "half.mp4").write_bytes(data[:len(data) // 2])
    with pytest.raises(PlanError, match="half.mp4.*re-export"):
        probe(tmp_path / "half.mp4")
    media.write_sound(tmp_path / "voice.wav", 440, 0.2)
    with pytest.raises(PlanError, match="voice.wav.*only sound.*soundtrack"):
        probe(tmp_path / "voice.wav")
    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(PlanError, match="still.png.*still image.*keyframe"):
        probe(tmp_path / "still.png")


def test_a_truncated_matroska_counts_the_frames_that_are_there(tmp_path, clips):
    data = Path(clips["ntsc_mkv"]).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    info = probe(cut)
    with av.open(str(cut)) as container:
        decodable = sum(1 for _ in container.decode(video=0))
    assert 0 < info.frame_count < 45
    assert abs(info.frame_count - decodable) <= 1  # a torn last packet may not decode


def test_a_file_whose_last_packets_do_not_decode_is_refused_by_the_probe(tmp_path):
    """Index at the front (faststart), end cut off: the packets are all counted but the torn last
    one does not decode. The probe itself refuses it, so the CLI's plan checks fail as the nodes do."""
    from segue.video_utils.engine.video_write import VideoWriter
    whole = tmp_path / "whole.mp4"
    noise = np.random.default_rng(3).integers(0, 256, (20, 64, 64, 3), np.uint8)  # every packet is large
    with VideoWriter(whole, Fraction(16), 64, 64, crf=12, preset="ultrafast") as writer:
        writer.write(noise)
    assert probe(whole).frame_count == 20
    data = whole.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) - 200])  # the last packet torn
    with pytest.raises(PlanError, match=r"cut\.mp4' ends at frame \d+ but holds \d+ frames: the file is truncated"):
        probe(tmp_path / "cut.mp4")


def test_the_probe_cache_holds_a_long_join(tmp_path):
    from segue.video_utils.core import probe as probe_module
    assert probe_module._scan_cached.cache_info().maxsize >= 1024  # 100 clips + their generated files


def test_probe_is_cached_per_file_version(tmp_path):
    path = media.write_clip(tmp_path / "c.mp4", 32, 32, 24, 5)
    first = probe(path)
    assert probe(path) is first
    media.write_clip(tmp_path / "c.mp4", 32, 32, 24, 9)
    os.utime(path, ns=(1, 1))  # a different version even within one mtime tick
    assert probe(path).frame_count == 9
    clear_cache()
    assert probe(path) is not first


def test_planning_modules_import_no_torch():
    code = ("import sys; import segue.video_utils.core.probe, segue.video_utils.core.retime, segue.video_utils.core.sizes, "
            "segue.video_utils.core.sound_timeline as a; a.join_timeline([1.0, 1.0], [(0, 1.0), (0, 1.0)], [0.5]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _remux(src: Path, dst: Path, metadata: dict, drop: set[int] = frozenset()) -> None:
    """Copy the packets of ``src`` into ``dst`` with the container tags ``metadata`` (and
    without the packets whose frame index is in ``drop``): no re-encode."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"fflags": "+bitexact"}) as out:
        out.metadata.update(metadata)
        stream = out.add_stream_from_template(inp.streams.video[0])
        for i, packet in enumerate(p for p in inp.demux(inp.streams.video[0]) if p.size):
            if i not in drop:
                packet.stream = stream
                out.mux(packet)


def test_own_intermediates_are_counted_from_their_tail_as_the_full_pass_counts_them(tmp_path):
    """Segue's lossless files carry OWN_TIMELINE_TAG: the probe reads their last group of pictures
    only, and reports exactly what the demux pass over the whole file reports."""
    from segue.video_utils.core import packet_scan
    from segue.video_utils.core.constants import OWN_TIMELINE_TAG
    from segue.video_utils.engine.video_write import LOSSLESS_CODEC, write_video

    frames = np.random.default_rng(5).integers(0, 256, (83, 24, 32, 3), np.uint8)  # 5 GOPs of 16 + 3
    own = write_video(tmp_path / "own.mkv", frames, Fraction(16), codec=LOSSLESS_CODEC)
    with av.open(str(own)) as c:
        assert c.metadata.get(OWN_TIMELINE_TAG[0]) == OWN_TIMELINE_TAG[1]
    plain = tmp_path / "plain.mkv"
    _remux(own, plain, {})                                    # the same packets, untagged: full pass
    calls = []
    real = packet_scan.demux
    packet_scan.demux = lambda *a: calls.append(1) or real(*a)
    try:
        clear_cache()
        fast = probe(own)
        assert not calls                                      # no pass over the whole file
        full = probe(plain)
        assert calls
    finally:
        packet_scan.demux = real
    assert fast.frame_count == full.frame_count == 83
    assert fast.own_timeline and not full.own_timeline        # ours is opened quickly by the readers too
    assert (fast.fps, fast.variable_rate, fast.duration) == (full.fps, full.variable_rate, full.duration)
    assert frame_times(own) == frame_times(plain)

    gap = tmp_path / "gap.mkv"                                # tagged, but a frame missing at the end
    _remux(own, gap, dict([OWN_TIMELINE_TAG]), drop={80})
    assert probe(gap).frame_count == 82                       # not 83: the tail did not add up, counted
