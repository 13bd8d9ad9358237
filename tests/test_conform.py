"""conform.py (+ the size choice in sizes.py): orientation, crop/pad/stretch, frame-rate conform
of real files in bounded memory, keyframe images."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import media  # noqa: E402

from segue.video_utils.engine.conform import (conform_frames, conform_keyframes, conform_video, load_image, orient,
                                              plan_fit)
from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.probe import Orientation, probe  # noqa: E402
from segue.video_utils.core.retime import cfr_frame_map, conform_frame_map  # noqa: E402
from segue.video_utils.core.sizes import output_size, working_size  # noqa: E402

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("conform")
    return {
        "hd": media.write_clip(d / "hd.mp4", 1920, 1080, 30, 30),
        "square": media.write_clip(d / "square.mp4", 350, 350, 16, 16),
        "720p": media.write_clip(d / "720p.mp4", 1280, 720, 24, 24),
        "portrait": media.write_clip(d / "portrait.mp4", 320, 176, 30, 8, rotation=90),
        "vfr": media.write_clip(d / "vfr.mp4", 160, 96, 30, times=[0, .033, .066, .15, .17, .19, .3, .31, .4, .5]),
        "five_seconds": media.write_clip(d / "five.mp4", 64, 36, 24, 120),
        "sixty": media.write_clip(d / "sixty.mkv", 160, 96, 60, 150),
    }


def source(index: int, width: int, height: int) -> torch.Tensor:
    return torch.from_numpy(media.picture(index, width, height)).float().div(255)[None]


def thirds(frames: int = 2, height: int = 30, width: int = 90) -> torch.Tensor:
    """Left third red, middle green, right third blue."""
    out = torch.zeros(frames, height, width, 3)
    for i, colour in enumerate((RED, GREEN, BLUE)):
        out[:, :, i * width // 3:(i + 1) * width // 3] = torch.tensor(colour)
    return out


# --- geometry -----------------------------------------------------------------------------------

def test_fit_geometry():
    assert plan_fit(1920, 1080, 480, 480, "crop").crop == (420, 0, 1080, 1080)
    assert plan_fit(1080, 1920, 480, 480, "crop").crop == (0, 420, 1080, 1080)
    pad = plan_fit(1920, 1080, 480, 480, "pad")
    assert (pad.crop, pad.scaled, pad.offset) == ((0, 0, 1920, 1080), (480, 270), (0, 105))
    pillar = plan_fit(1080, 1920, 1920, 1080, "pad")  # portrait in landscape: bars left and right
    assert (pillar.scaled, pillar.offset) == ((608, 1080), (656, 0))
    stretch = plan_fit(351, 350, 832, 480, "stretch")
    assert (stretch.crop, stretch.scaled, stretch.offset) == ((0, 0, 351, 350), (832, 480), (0, 0))
    odd = plan_fit(351, 350, 832, 480, "crop")
    assert odd.crop == (0, 74, 351, 202) and odd.scaled == (832, 480)
    # non-square pixels: 720x480 at 8:9 is 640x480 as shown, so 640x480 needs no crop
    assert plan_fit(720, 480, 640, 480, "crop", Fraction(8, 9)).crop == (0, 0, 720, 480)
    with pytest.raises(PlanError, match="fit"):
        plan_fit(10, 10, 10, 10, "squash")


def test_crop_keeps_the_centre_and_stretch_keeps_everything():
    frames = thirds()
    cropped = conform_frames(frames, 16, 16, "crop")  # square from a 3:1 picture = the green middle
    assert cropped.shape == (2, 16, 16, 3) and cropped.dtype == torch.float32
    assert torch.allclose(cropped.mean(dim=(0, 1, 2)), torch.tensor(GREEN), atol=0.02)
    stretched = conform_frames(frames, 16, 16, "stretch")
    assert torch.allclose(stretched.mean(dim=(0, 1, 2)), torch.tensor([1 / 3] * 3), atol=0.05)
    assert stretched[0, 8, 0, 0] > 0.9 and stretched[0, 8, -1, 2] > 0.9  # both edges still there
    tall = conform_frames(thirds().transpose(1, 2), 32, 32)  # red top, green middle, blue bottom
    assert torch.allclose(tall.mean(dim=(0, 1, 2)), torch.tensor(GREEN), atol=0.02)


def test_pad_letterboxes_with_black():
    frames = torch.full((1, 40, 40, 3), 0.8)
    out = conform_frames(frames, 64, 32, "pad")  # square in a 2:1 frame: 32x32 centred
    assert out.shape == (1, 32, 64, 3)
    assert torch.equal(out[:, :, :16], torch.zeros(1, 32, 16, 3)) and torch.equal(out[:, :, 48:], torch.zeros(1, 32, 16, 3))
    assert torch.allclose(out[:, :, 16:48], torch.full((1, 32, 32, 3), 0.8))
    wide = conform_frames(thirds(1, 30, 90), 90, 90, "pad")  # letterbox top and bottom
    assert torch.equal(wide[0, :30], torch.zeros(30, 90, 3)) and torch.equal(wide[0, 60:], torch.zeros(30, 90, 3))
    assert torch.equal(wide[0, 30:60], thirds(1, 30, 90)[0])


def test_orientation_is_applied_before_the_fit():
    frames = torch.rand(2, 6, 10, 3)
    for k, orientation in ((1, Orientation(True, False, True)), (2, Orientation(False, True, True)),
                           (3, Orientation(True, True, False))):
        expected = torch.from_numpy(np.rot90(frames.numpy(), k, axes=(1, 2)).copy())
        assert torch.equal(orient(frames, orientation), expected)
    upright = conform_frames(frames, 6, 10, orientation=Orientation(True, False, True))
    assert torch.equal(upright, torch.from_numpy(np.rot90(frames.numpy(), 1, axes=(1, 2)).copy()))
    assert upright.is_contiguous()
    mirrored = conform_frames(frames, 10, 6, orientation=Orientation(False, True, False))
    assert torch.equal(mirrored, frames.flip(2))


def test_same_size_is_a_no_op_and_upscale_works():
    frames = torch.rand(3, 16, 32, 3)
    assert conform_frames(frames, 32, 16) is frames
    up = conform_frames(frames, 64, 32, "stretch")
    assert up.shape == (3, 32, 64, 3) and 0 <= up.min() and up.max() <= 1


def test_shrinking_is_antialiased_and_chunked():
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float()
    frames = checker[None, :, :, None].expand(1, 64, 64, 3).contiguous()
    small = conform_frames(frames, 20, 20)  # non-integer factor: plain bilinear would alias badly
    assert torch.allclose(small, torch.full_like(small, 0.5), atol=0.02)
    frames = torch.rand(40, 20, 36, 3)
    out = conform_frames(frames, 16, 16)
    assert out.shape == (40, 16, 16, 3) and torch.allclose(out[33], conform_frames(frames[33:34], 16, 16)[0])


def test_uint8_input_is_scaled_and_bad_inputs_are_plan_errors():
    frames = (thirds() * 255).to(torch.uint8)
    assert torch.allclose(conform_frames(frames, 16, 16), conform_frames(thirds(), 16, 16), atol=1e-6)
    with pytest.raises(PlanError, match="fit"):
        conform_frames(torch.rand(1, 8, 8, 3), 16, 16, "squash")
    with pytest.raises(PlanError, match="shape"):
        conform_frames(torch.rand(8, 8, 3), 16, 16)
    with pytest.raises(PlanError, match="picture size"):
        conform_frames(torch.rand(1, 8, 8, 3), 0, 16)


# --- sizes -------------------------------------------------------------------------------------

def test_output_size_defaults_to_the_first_clip_as_displayed(clips):
    portrait = probe(clips["portrait"])
    assert output_size([(portrait.width, portrait.height), (1920, 1080)]) == (176, 320)
    assert output_size([(1920, 1080)], (1280, 720)) == (1280, 720)
    assert output_size([(1919, 1079)]) == (1919, 1079)  # any size out: only the working size is /16
    with pytest.raises(PlanError, match="no inputs"):
        output_size([])


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (350, 350), (1280, 720), (3840, 2160),
                                  (640, 480), (2560, 1080), (351, 199), (832, 480)])
def test_working_size_is_wan_sized_near_the_area_with_the_output_aspect(size):
    w, h = working_size(*size)
    assert w % 16 == 0 and h % 16 == 0
    assert abs(np.log(w / h / (size[0] / size[1]))) <= 0.01
    assert 0.85 <= w * h / (832 * 480) <= 1.15
    assert working_size(1920, 1080) == (848, 480) and working_size(832, 480) == (832, 480)
    assert working_size(1920, 1080, area=1280 * 720) == (1280, 720)


def test_generated_frames_scale_from_the_working_size_to_the_output(clips):
    w, h = working_size(1920, 1080)
    generated = conform_frames(source(3, 1920, 1080), w, h)  # what Wan would make, at 848x480
    out = conform_frames(generated, 1920, 1080)
    assert out.shape == (1, 1080, 1920, 3)
    assert media.psnr(out[0], source(3, 1920, 1080)[0]) > 25  # softer (upscaled), same picture


# --- files --------------------------------------------------------------------------------------

def _check_against_source(frames: torch.Tensor, frame_map, src_size, size, fit="crop", orientation=None,
                          min_psnr=30.0):
    """Every conformed frame matches the same geometric conform of the source frame the map names
    (>= min_psnr), and matches it better than the neighbouring source frames."""
    for k, index in enumerate(frame_map):
        ref = conform_frames(source(index, *src_size), *size, fit, orientation=orientation)[0]
        quality = media.psnr(frames[k], ref)
        assert quality >= min_psnr, (k, index, quality)
        for other in (index - 1, index + 1):
            if other >= 0:
                wrong = conform_frames(source(other, *src_size), *size, fit, orientation=orientation)[0]
                assert media.psnr(frames[k], wrong) < quality - 3, (k, index, other)


def test_1080p_at_30_to_working_size_at_24(clips):
    chunks = list(conform_video(clips["hd"], 848, 480, fps=24, chunk=10))
    assert [c.shape[0] for c in chunks] == [10, 10, 4] and chunks[0].shape[1:] == (480, 848, 3)
    frames = torch.cat(chunks)
    assert frames.dtype == torch.float32
    _check_against_source(frames, cfr_frame_map(30, 30, 24), (1920, 1080), (848, 480))


def test_square_16fps_padded_to_30fps(clips):
    frames = torch.cat(list(conform_video(clips["square"], 832, 480, fps=30, fit="pad")))
    assert frames.shape == (30, 480, 832, 3)  # 1 s kept
    bars = torch.cat([frames[:, :, :176], frames[:, :, -176:]], dim=2)
    assert bars.abs().max() == 0  # 350x350 scaled to 480x480, centred: black bars 176 px each side
    _check_against_source(frames, cfr_frame_map(16, 16, 30), (350, 350), (832, 480), "pad")


def test_720p_stretched(clips):
    frames = torch.cat(list(conform_video(clips["720p"], 640, 480, fit="stretch")))
    assert frames.shape == (24, 480, 640, 3)
    _check_against_source(frames, list(range(24)), (1280, 720), (640, 480), "stretch")


def test_portrait_clip_comes_out_upright(clips):
    info = probe(clips["portrait"])
    frames = torch.cat(list(conform_video(clips["portrait"], info.width, info.height)))
    assert frames.shape == (8, 320, 176, 3)
    # stored top right (green) is displayed top left after the 90 degree counter-clockwise turn
    assert torch.allclose(frames[0, 5, 5], torch.tensor(GREEN), atol=0.1)
    assert torch.allclose(frames[0, -5, 5], torch.tensor(RED), atol=0.1)
    _check_against_source(frames, list(range(8)), (320, 176), (176, 320), orientation=info.orientation)


def test_durations_are_kept(clips):
    assert sum(c.shape[0] for c in conform_video(clips["five_seconds"], 64, 36, fps=30)) == 150
    down = torch.cat(list(conform_video(clips["sixty"], 160, 96, fps=30)))
    assert down.shape[0] == 75  # 2.5 s at 60 -> 75 frames at 30, every other frame
    _check_against_source(down, list(range(0, 150, 2)), (160, 96), (160, 96))


def test_variable_rate_clip_follows_its_timestamps(clips):
    frame_map = conform_frame_map(clips["vfr"], 30)
    assert frame_map == [0, 1, 2, 2, 2, 3, 5, 5, 5, 6, 7, 7, 8, 8, 8]
    frames = torch.cat(list(conform_video(clips["vfr"], 160, 96, fps=30)))
    assert frames.shape[0] == 15
    _check_against_source(frames, frame_map, (160, 96), (160, 96))


def test_a_range_of_conformed_frames(clips):
    whole = torch.cat(list(conform_video(clips["five_seconds"], 32, 32, fps=30)))
    part = torch.cat(list(conform_video(clips["five_seconds"], 32, 32, fps=30, start=100, end=140, chunk=7)))
    assert torch.equal(part, whole[100:140])
    tail = torch.cat(list(conform_video(clips["vfr"], 80, 48, fps=30, start=10)))
    assert torch.equal(tail, torch.cat(list(conform_video(clips["vfr"], 80, 48, fps=30)))[10:])
    assert list(conform_video(clips["vfr"], 80, 48, start=3, end=3)) == []
    with pytest.raises(PlanError, match="outside"):
        next(conform_video(clips["vfr"], 80, 48, fps=30, end=16))


_MEMORY_PROBE = textwrap.dedent("""
    import re, sys
    from segue.video_utils.engine.conform import conform_video
    def status(key):
        return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
    path = sys.argv[1]
    next(iter(conform_video(path, 320, 180, chunk=8)))  # warm up: imports, allocator, codecs
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak
    before = status("VmRSS")
    frames = sum(c.shape[0] for c in conform_video(path, 320, 180, chunk=8))
    print(frames, status("VmHWM") - before)
""")


def test_streaming_conform_memory_does_not_grow_with_the_clip(tmp_path):
    short = media.write_clip(tmp_path / "short.mp4", 640, 360, 30, 24, preset="ultrafast")
    long = media.write_clip(tmp_path / "long.mp4", 640, 360, 30, 240, preset="ultrafast")
    peaks = {}
    for name, path in (("short", short), ("long", long)):
        done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(path)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        frames, peak = (int(v) for v in done.stdout.split())
        peaks[name] = (frames, peak)
    assert peaks["short"][0] == 24 and peaks["long"][0] == 240
    whole_clip = 240 * 360 * 640 * 3 * 4  # 663 MB of float frames if the clip were held
    growth = peaks["long"][1] - peaks["short"][1]
    print(f"peak RSS growth: short {peaks['short'][1] / 2**20:.1f} MB, long {peaks['long'][1] / 2**20:.1f} MB")
    # measured: +75 MB (24 frames), +105 MB (240), +112 MB (720): one source chunk (16 frames,
    # 44 MB) plus decoder and allocator overhead that levels off; holding the clip would be +663 MB
    assert growth < 60 * 2 ** 20, peaks
    assert peaks["long"][1] < whole_clip / 3


# --- keyframe images ------------------------------------------------------------------------------

def test_conform_keyframes_targets_the_first_images_generation_size():
    batch = conform_keyframes([torch.rand(462, 830, 3), torch.rand(1, 400, 300, 3)])
    assert batch.shape == (2, 464, 832, 3)                  # snapped to 16
    big = conform_keyframes([torch.rand(718, 1280, 3)])     # bigger than Wan's working area: generated small
    assert big.shape == (1, *reversed(working_size(1280, 718)), 3) == (1, 464, 832, 3)
    assert conform_keyframes(torch.rand(3, 46, 100, 3)).shape == (3, 48, 96, 3)
    assert conform_keyframes([torch.rand(20, 20, 3)], size=(830, 470), fit="stretch").shape == (1, 464, 832, 3)
    padded = conform_keyframes([torch.ones(20, 40, 3)], size=(32, 32), fit="pad")
    assert padded[0, :8].max() == 0 and padded[0, 24:].max() == 0 and padded[0, 8:24].min() > 0.999
    batch = conform_keyframes([thirds(1, 32, 96)], size=(32, 32))
    assert torch.allclose(batch.mean(dim=(0, 1, 2)), torch.tensor(GREEN), atol=0.02)
    with pytest.raises(PlanError, match="no keyframe"):
        conform_keyframes([])
    with pytest.raises(PlanError, match="keyframe image 1"):
        conform_keyframes([torch.rand(8, 8, 3), torch.rand(8, 8)])


@pytest.fixture
def rgb_u8():
    image = np.zeros((10, 12, 3), np.uint8)
    image[..., 0] = 200  # red in RGB order
    image[..., 1] = np.arange(12, dtype=np.uint8)[None, :] * 10
    image[..., 2] = 7
    return image


def test_load_image_png_jpeg_grey_alpha_16bit(tmp_path, rgb_u8):
    bgr = cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    loaded = load_image(tmp_path / "a.png")
    assert loaded.dtype == torch.float32 and loaded.shape == (10, 12, 3)
    assert torch.equal(loaded, torch.from_numpy(rgb_u8).float() / 255)
    cv2.imwrite(str(tmp_path / "a.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert (load_image(tmp_path / "a.jpg") - loaded).abs().max() < 0.05
    cv2.imwrite(str(tmp_path / "grey.png"), rgb_u8[..., 1])
    grey = load_image(tmp_path / "grey.png")
    assert grey.shape == (10, 12, 3) and torch.equal(grey[..., 0], grey[..., 2])
    bgra = np.dstack([bgr, np.full((10, 12), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    assert torch.equal(load_image(tmp_path / "alpha.png"), loaded)
    deep = (rgb_u8.astype(np.uint16) * 257)[..., ::-1].copy()
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    assert torch.allclose(load_image(tmp_path / "deep.png"), loaded, atol=1e-6)


@pytest.mark.parametrize("orientation, turn", [(1, lambda a: a), (6, lambda a: np.rot90(a, -1)),
                                               (3, lambda a: np.rot90(a, 2)), (8, lambda a: np.rot90(a, 1))])
def test_load_image_applies_exif_orientation(tmp_path, orientation, turn):
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:16, :24] = (255, 0, 0)  # red top left quarter
    path = media.jpeg_with_orientation(tmp_path / "phone.jpg", rgb, orientation)
    loaded = load_image(path)
    expected = turn(rgb)
    assert loaded.shape == expected.shape
    assert (loaded.numpy() * 255 - expected).__abs__().mean() < 3


def test_load_image_errors_name_the_path(tmp_path):
    with pytest.raises(PlanError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(PlanError, match="text.png"):
        load_image(tmp_path / "text.png")
