"""resize.py: crop/stretch geometry, antialiasing, keyframe batches, image loading."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from segue.video_utils.errors import PlanError
from segue.video_utils.resize import conform_frames, conform_keyframes, load_image

RED, GREEN, BLUE = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)


def thirds(frames: int = 2, height: int = 30, width: int = 90) -> torch.Tensor:
    """Left third red, middle green, right third blue."""
    out = torch.zeros(frames, height, width, 3)
    for i, colour in enumerate((RED, GREEN, BLUE)):
        out[:, :, i * width // 3:(i + 1) * width // 3] = torch.tensor(colour)
    return out


def test_crop_keeps_the_centre_and_stretch_keeps_everything():
    frames = thirds()
    cropped = conform_frames(frames, 16, 16, "crop")  # square from a 3:1 picture = the green middle
    assert cropped.shape == (2, 16, 16, 3) and cropped.dtype == torch.float32
    assert torch.allclose(cropped.mean(dim=(0, 1, 2)), torch.tensor(GREEN), atol=0.02)
    stretched = conform_frames(frames, 16, 16, "stretch")
    assert stretched.shape == (2, 16, 16, 3)
    assert torch.allclose(stretched.mean(dim=(0, 1, 2)), torch.tensor([1 / 3] * 3), atol=0.05)
    assert stretched[0, 8, 0, 0] > 0.9 and stretched[0, 8, -1, 2] > 0.9  # both edges still there


def test_crop_from_tall_picture_cuts_top_and_bottom():
    frames = thirds().transpose(1, 2)  # 90 high, 30 wide: red top, green middle, blue bottom
    out = conform_frames(frames, 32, 32)
    assert torch.allclose(out.mean(dim=(0, 1, 2)), torch.tensor(GREEN), atol=0.02)


def test_same_size_is_a_no_op_and_upscale_works():
    frames = torch.rand(3, 16, 32, 3)
    assert conform_frames(frames, 32, 16) is frames
    up = conform_frames(frames, 64, 32, "stretch")
    assert up.shape == (3, 32, 64, 3) and 0 <= up.min() and up.max() <= 1


def test_shrinking_is_antialiased():
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float()
    frames = checker[None, :, :, None].expand(1, 64, 64, 3).contiguous()
    small = conform_frames(frames, 20, 20)  # non-integer factor: plain bilinear would alias badly
    assert torch.allclose(small, torch.full_like(small, 0.5), atol=0.02)


def test_long_clip_is_processed_in_chunks():
    frames = torch.rand(40, 20, 36, 3)
    out = conform_frames(frames, 16, 16)
    assert out.shape == (40, 16, 16, 3)
    assert torch.allclose(out[33], conform_frames(frames[33:34], 16, 16)[0])


def test_uint8_input_is_scaled():
    frames = (thirds() * 255).to(torch.uint8)
    assert torch.allclose(conform_frames(frames, 16, 16), conform_frames(thirds(), 16, 16), atol=1e-6)
    batch = conform_keyframes([frames[0]])
    assert batch.dtype == torch.float32 and batch.max() == 1.0


def test_bad_inputs_are_plan_errors():
    with pytest.raises(PlanError, match="fit"):
        conform_frames(torch.rand(1, 8, 8, 3), 16, 16, "squash")
    with pytest.raises(PlanError, match="shape"):
        conform_frames(torch.rand(8, 8, 3), 16, 16)


def test_conform_keyframes_targets_the_first_images_wan_size():
    first = torch.rand(718, 1280, 3)
    second = torch.rand(1, 400, 300, 3)
    batch = conform_keyframes([first, second])
    assert batch.shape == (2, 720, 1280, 3)
    small = conform_keyframes(torch.rand(3, 46, 100, 3))
    assert small.shape == (3, 48, 96, 3)
    sized = conform_keyframes([torch.rand(20, 20, 3)], size=(830, 470), fit="stretch")
    assert sized.shape == (1, 464, 832, 3)
    with pytest.raises(PlanError, match="no keyframe"):
        conform_keyframes([])
    with pytest.raises(PlanError, match="keyframe image 1"):
        conform_keyframes([torch.rand(8, 8, 3), torch.rand(8, 8)])


def test_conform_keyframes_crop_keeps_centre():
    batch = conform_keyframes([thirds(1, 32, 96)], size=(32, 32))
    assert torch.allclose(batch.mean(dim=(0, 1, 2)), torch.tensor(GREEN), atol=0.02)


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
    assert torch.equal(grey[..., 0], torch.from_numpy(rgb_u8[..., 1]).float() / 255)

    bgra = np.dstack([bgr, np.full((10, 12), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    assert torch.equal(load_image(tmp_path / "alpha.png"), loaded)

    deep = (rgb_u8.astype(np.uint16) * 257)[..., ::-1].copy()
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    assert torch.allclose(load_image(tmp_path / "deep.png"), loaded, atol=1e-6)


def test_load_image_errors_name_the_path(tmp_path):
    with pytest.raises(PlanError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(PlanError, match="text.png"):
        load_image(tmp_path / "text.png")
