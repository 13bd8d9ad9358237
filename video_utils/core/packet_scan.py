"""A video file's frames counted from its packets, for the probe: the demux pass over a user's
file, the short way for Segue's own intermediates (read from their last group of pictures), and
the check that a file's last packets really decode (a cut-off download keeps its packet index).
PyAV only, no torch.
"""

from __future__ import annotations

from fractions import Fraction

import av

from .constants import OWN_TIMELINE_TAG
from .errors import PlanError


def demux(container, video, audio) -> tuple[int, list[int] | None, int | None, bool]:
    """(video frames, their sorted presentation timestamps or None when some have none, where
    the sound ends in the audio time base, whether a video packet came back short: the demuxer
    flags a packet whose bytes the file does not hold, as in a cut-off download)."""
    pts: list[int] = []
    frames = 0
    audio_end = None
    torn = False
    for packet in container.demux(*[s for s in (video, audio) if s is not None]):
        if not packet.size or packet.is_discard:
            continue
        if packet.stream.index == video.index:
            frames += 1
            torn = torn or packet.is_corrupt
            if packet.pts is not None:
                pts.append(packet.pts)
        elif packet.pts is not None:
            end = packet.pts + (packet.duration or 0)
            audio_end = end if audio_end is None else max(audio_end, end)
    return frames, (sorted(pts) if len(pts) == frames else None), audio_end, torn


def own_timeline(container, video, audio, fps: Fraction | None) -> tuple[int, list[int], None, bool] | None:
    """``demux``'s answer for one of Segue's own intermediates (``OWN_TIMELINE_TAG``: frame i at
    i/fps, no gaps, no sound), read from its last group of pictures: the frame count is where
    the last frame is. None when the file is not one, or its tail does not add up (a gap, a torn
    packet, no index): then the full pass counts it."""
    key, value = OWN_TIMELINE_TAG
    if audio is not None or container.metadata.get(key) != value or not video.time_base or not fps:
        return None
    tb = Fraction(video.time_base)
    try:
        tail = _tail_indices(container, video, tb * fps)
    finally:
        container.seek(0, stream=video, backward=True)         # where demux starts, if it must
    if not tail or tail != list(range(tail[0], tail[0] + len(tail))):
        return None
    count = tail[-1] + 1
    return count, [round(Fraction(i) / (fps * tb)) for i in range(count)], None, False


def _tail_indices(container, video, frames_per_tick: Fraction) -> list[int] | None:
    """Frame indices of the packets from the last keyframe on, None if one is torn or unstamped."""
    container.seek(2 ** 62, stream=video, backward=True)       # lands on the last keyframe
    tail = []
    for packet in container.demux(video):
        if packet.is_corrupt or (packet.size and packet.pts is None):
            return None
        if packet.size and not packet.is_discard:
            tail.append(round(packet.pts * frames_per_tick))
    return sorted(tail)


def check_tail(container, video, pts: list[int], path: str) -> None:
    """Refuse a truncated file: one whose last packets are counted but do not decode (run when
    the demuxer flagged a short packet, so an intact file costs no decoding).

    A cut-off download or copy keeps the packet index (``demux`` counts every packet) while its
    last packet is torn: every reader would then be a frame or more short, and one that reads the
    last frames by timestamp would return the wrong ones. Seeks to the last keyframe and decodes
    to the end (one group of pictures, not the file), then checks that every packet from there
    on gave a frame. Files without timestamps cannot be checked this way and are not.
    """
    try:
        container.seek(pts[-1], stream=video, backward=True)
    except av.FFmpegError:
        return  # no index to seek with: readers count the frames they get
    decoded: list[int] = []
    error = None
    try:
        for frame in container.decode(video):
            if frame.pts is None:
                return  # nothing to compare with the packets' timestamps
            decoded.append(frame.pts)
    except av.FFmpegError as exc:
        error = exc
    if not decoded:
        why = f" ({error.strerror or error})" if error is not None else ""
        raise PlanError(f"video {path!r} does not decode from its last keyframe to its end{why}: the file is "
                        f"truncated or damaged at its end; re-export or copy it again")
    start = sum(1 for t in pts if t < min(decoded))     # frame index the decoding started at
    if start + len(decoded) >= len(pts) and error is None:
        return
    bad = start + len(decoded)                          # the first frame that did not decode
    last = sum(1 for t in pts if t <= max(decoded)) - 1
    if error is not None and bad < len(pts) - 1:
        raise PlanError(f"video {path!r} cannot be decoded after {bad} frames ({error.strerror or error}): the file "
                        f"is damaged; re-export or re-download it")
    raise PlanError(f"video {path!r} ends at frame {last} but holds {len(pts)} frames: the file is truncated or "
                    f"damaged at its end; re-export or copy it again")
