"""colour.py: LAB mean/std transfer moves frames to the reference's statistics."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from segue.video_utils.engine.colour import match_colour
from segue.video_utils.core.errors import PlanError


def lab_stats(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(images.reshape(-1, images.shape[-2], 3).numpy(), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return lab.mean(0), lab.std(0)


def smooth(frames: int, tint, spread: float, seed: int) -> torch.Tensor:
    """Mid-range textured frames (no clipping) with a given tint and contrast."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(frames, 8, 8, 3, generator=g)
    base = torch.nn.functional.interpolate(base.permute(0, 3, 1, 2), size=(24, 32), mode="bilinear").permute(0, 2, 3, 1)
    return (torch.tensor(tint) + spread * (base - 0.5)).clamp(0, 1).contiguous()


def test_match_moves_mean_and_std_to_reference():
    frames = smooth(4, (0.35, 0.45, 0.55), 0.3, seed=1)    # bluish, contrasty
    reference = smooth(2, (0.6, 0.5, 0.35), 0.15, seed=2)  # warm, flatter, other size below
    reference = torch.nn.functional.interpolate(reference.permute(0, 3, 1, 2), size=(20, 20)).permute(0, 2, 3, 1).contiguous()
    out = match_colour(frames, reference)
    assert out.shape == frames.shape and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    mean_o, std_o = lab_stats(out)
    mean_r, std_r = lab_stats(reference)
    mean_f, _ = lab_stats(frames)
    assert np.abs(mean_f - mean_r).max() > 5  # they really differed
    assert np.allclose(mean_o, mean_r, atol=0.5)
    assert np.allclose(std_o, std_r, rtol=0.05, atol=0.3)


def test_strength_blends_and_zero_is_identity():
    frames = smooth(2, (0.3, 0.5, 0.5), 0.2, seed=3)
    reference = smooth(1, (0.6, 0.4, 0.4), 0.2, seed=4)[0]  # a single [H,W,3] image
    assert torch.allclose(match_colour(frames, reference, 0.0), frames)
    mean_f, _ = lab_stats(frames)
    mean_r, _ = lab_stats(reference[None])
    mean_h, _ = lab_stats(match_colour(frames, reference, 0.5))
    assert np.allclose(mean_h, (mean_f + mean_r) / 2, atol=0.5)


def test_single_image_and_one_transform_for_the_clip():
    frames = smooth(3, (0.4, 0.4, 0.4), 0.2, seed=5)
    reference = smooth(1, (0.5, 0.45, 0.4), 0.2, seed=6)
    single = match_colour(frames[0], reference)
    assert single.shape == frames[0].shape
    # identical input frames get identical corrections (no per-frame flicker)
    same = frames[:1].expand(3, -1, -1, -1).contiguous()
    out = match_colour(same, reference)
    assert torch.equal(out[0], out[2])


def test_match_reference_to_itself_changes_little():
    frames = smooth(2, (0.5, 0.4, 0.3), 0.3, seed=7)
    assert (match_colour(frames, frames) - frames).abs().max() < 2e-3


def test_bad_inputs():
    with pytest.raises(PlanError, match="strength"):
        match_colour(torch.rand(1, 4, 4, 3), torch.rand(4, 4, 3), 1.5)
    with pytest.raises(PlanError, match="reference"):
        match_colour(torch.rand(1, 4, 4, 3), torch.rand(4, 4))


def test_rgb_method_moves_channel_means_and_unknown_method_is_refused():
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(3, 8, 8, 3, generator=g) * 0.5
    reference = torch.rand(2, 8, 8, 3, generator=g) * 0.4 + 0.5
    out = match_colour(frames, reference, method="rgb")
    assert torch.allclose(out.mean(dim=(0, 1, 2)), reference.mean(dim=(0, 1, 2)), atol=0.02)
    with pytest.raises(PlanError, match="colour method"):
        match_colour(frames, reference, method="hsv")
