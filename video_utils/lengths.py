"""The one owner of Wan's frame-length policy.

Wan's VAE groups frames causally: latent 0 is frame 0 and every further latent holds 4 frames, so a
video decodes to ``4n+1`` frames.  ``WanVaceToVideo`` silently floors any other length (80 -> 77),
which is how peer packs lose frames.  Every length that reaches a Wan sampler goes through here.
"""

from __future__ import annotations

WAN_TEMPORAL_STRIDE = 4
WAN_SPATIAL_MULTIPLE = 16
MIN_WAN_LENGTH = 5


def is_wan_length(frames: int) -> bool:
    """True when ``frames`` has the form 4n+1 (1, 5, 9, ... 81 ...)."""
    return frames >= 1 and (frames - 1) % WAN_TEMPORAL_STRIDE == 0


def wan_length_floor(frames: int) -> int:
    """Largest 4n+1 not above ``frames`` (what ``WanVaceToVideo`` decodes for ``frames``)."""
    if frames < 1:
        raise ValueError(f"a Wan length needs at least 1 frame, got {frames}")
    return ((frames - 1) // WAN_TEMPORAL_STRIDE) * WAN_TEMPORAL_STRIDE + 1


def wan_length_ceil(frames: int) -> int:
    """Smallest 4n+1 not below ``frames``."""
    floor = wan_length_floor(max(frames, 1))
    return floor if floor >= frames else floor + WAN_TEMPORAL_STRIDE


def wan_length_nearest(frames: int) -> int:
    """Nearest 4n+1; a tie (exactly 2 away from both) goes up so no requested frame is lost."""
    floor, ceil = wan_length_floor(max(frames, 1)), wan_length_ceil(frames)
    return floor if frames - floor < ceil - frames else ceil


def latent_frames(frames: int) -> int:
    """Number of Wan latent frames for a 4n+1 pixel length."""
    return (frames - 1) // WAN_TEMPORAL_STRIDE + 1
