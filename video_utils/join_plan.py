"""Frame arithmetic of joining clips with VACE-generated transitions.

Each join between clip A and clip B generates a transition of ``T`` (4n+1) frames laid out as
``[context of A | gap | context of B]``; the context frames are kept by the mask and the gap is
generated.  The gap absorbs the 4n+1 rounding (``gap_frames`` is the effective gap).  The clips are
then assembled as ``A | transition | B`` with the transition's contexts cross-faded over the same
frames of A and B.

* insert mode keeps every clip frame: the total grows by each join's effective gap;
* replace mode removes ``gap//2`` frames from A's tail and the rest from B's head and generates the
  gap in their place: the total equals the sum of the clip lengths.

Transitions only ever read original clips, so all joins are independent (parallel) and a middle
clip is trimmed at both ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

from .errors import PlanError
from .lengths import wan_length_ceil, wan_length_floor

JOIN_OVERRIDE_KEYS = ("context", "gap", "replace", "blend")


@dataclass(frozen=True)
class JoinSettings:
    context: int
    gap: int
    replace: bool
    blend: int | None = None   # None = blend over the whole context


@dataclass(frozen=True)
class JoinSpec:
    index: int
    transition_frames: int     # 4n+1 frames generated for this join
    gap_frames: int            # effective gap (generated frames between the contexts)
    context_frames_a: int
    context_frames_b: int
    trim_from_a: int           # frames removed from A's tail (replace mode)
    trim_from_b: int           # frames removed from B's head (replace mode)
    blend_frames: int          # frames cross-faded on each side of the transition
    replace: bool
    context_a_start: int       # first frame of A used as context
    context_b_start: int       # first frame of B used as context
    transition_start: int      # final-video position of the transition's first frame


@dataclass(frozen=True)
class ClipSpan:
    index: int
    keep_start: int            # first frame of the clip kept in the output
    keep_end: int              # one past the last kept frame
    start_frame: int           # final-video position of keep_start


@dataclass(frozen=True)
class JoinPlan:
    clip_frames: list[int]
    joins: list[JoinSpec]
    clips: list[ClipSpan]
    total_frames: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON contract of ``segue plan join --json``."""
        return {
            "clip_frames": list(self.clip_frames),
            "joins": [asdict(j) for j in self.joins],
            "clips": [asdict(c) for c in self.clips],
            "total_frames": self.total_frames,
            "warnings": list(self.warnings),
        }


def join_settings(
    n_joins: int,
    context: int,
    gap: int,
    replace: bool,
    blend: int | None = None,
    per_join: Sequence[Mapping] | None = None,
) -> list[JoinSettings]:
    """Base settings with ``per_join[i]`` shallow-merged over join ``i`` (unknown keys rejected)."""
    per_join = list(per_join or [])
    if len(per_join) > n_joins:
        raise PlanError(
            f"per_join_settings has {len(per_join)} entries but there are only {n_joins} joins: "
            f"remove the extra entries"
        )
    out = []
    for i in range(n_joins):
        override = dict(per_join[i]) if i < len(per_join) and per_join[i] else {}
        unknown = sorted(set(override) - set(JOIN_OVERRIDE_KEYS))
        if unknown:
            raise PlanError(
                f"per_join_settings[{i}] has unknown keys {unknown}: use only {', '.join(JOIN_OVERRIDE_KEYS)}"
            )
        out.append(JoinSettings(
            context=int(override.get("context", context)),
            gap=int(override.get("gap", gap)),
            replace=bool(override.get("replace", replace)),
            blend=override.get("blend", blend),
        ))
    return out


def transition_length(context: int, gap: int) -> tuple[int, int]:
    """``(T, effective_gap)`` with ``T = 2*context + effective_gap`` a 4n+1 length.

    The gap shrinks by the rounding when it can (the original's rule); a gap too small to absorb
    it grows to the next 4n+1 instead.
    """
    desired = 2 * context + gap
    floor = wan_length_floor(desired)
    total = floor if desired - floor <= gap and floor >= 5 else max(wan_length_ceil(desired), 5)
    return total, total - 2 * context


def plan_join(
    clip_frames: Sequence[int],
    context: int = 8,
    gap: int = 53,
    replace: bool = False,
    blend: int | None = None,
    per_join: Sequence[Mapping] | None = None,
    allow_shrink: bool = False,
    clip_names: Sequence[str] | None = None,
) -> JoinPlan:
    """Plan the joins of ``clip_frames`` (frame counts, in order).

    A clip too short for its contexts and replaced frames is an error naming it, unless
    ``allow_shrink``: then the contexts and gaps of the joins touching it shrink in proportion
    (context at least 1, gap at least 0) until it fits, and the plan carries a warning.
    """
    lengths = [int(n) for n in clip_frames]
    names = list(clip_names) if clip_names else [f"clip {i}" for i in range(len(lengths))]
    if len(lengths) < 2:
        raise PlanError(f"joining needs at least 2 clips, got {len(lengths)}: add another clip")
    for i, n in enumerate(lengths):
        if n < 1:
            raise PlanError(f"{names[i]} has {n} frames: every clip needs at least 1 frame")
    settings = join_settings(len(lengths) - 1, context, gap, replace, blend, per_join)
    for i, s in enumerate(settings):
        if s.context < 1:
            raise PlanError(f"context of join {i} is {s.context}: use at least 1 frame")
        if s.gap < 0:
            raise PlanError(f"gap of join {i} is {s.gap}: use 0 or more frames")
        if s.blend is not None and s.blend < 0:
            raise PlanError(f"blend of join {i} is {s.blend}: use 0 or more frames")

    warnings: list[str] = []
    for _ in range(64):
        joins = [_join_numbers(i, s) for i, s in enumerate(settings)]
        short = _first_short_clip(lengths, joins)
        if short is None:
            break
        clip, need = short
        if not allow_shrink:
            raise PlanError(
                f"{names[clip]} has {lengths[clip]} frames but its joins need at least {need} "
                f"(contexts plus frames replaced on each side): use a longer clip, lower context/gap "
                f"for its joins, or allow shrinking"
            )
        settings = _shrink_around(settings, clip, lengths[clip] / need, names[clip], lengths[clip])
        warnings.append(f"{names[clip]} ({lengths[clip]} frames) was too short for its joins: shrank them to fit")
    else:  # pragma: no cover - _shrink_around raises before looping forever
        raise PlanError("could not shrink the joins to fit the clips")

    return _assemble(lengths, settings, joins, warnings)


def _join_numbers(index: int, s: JoinSettings) -> dict:
    total, gap = transition_length(s.context, s.gap)
    g1 = gap // 2 if s.replace else 0
    return {
        "index": index, "T": total, "gap": gap, "c": s.context,
        "g1": g1, "g2": (gap - g1) if s.replace else 0,
        "blend": s.context if s.blend is None else min(int(s.blend), s.context),
        "replace": s.replace,
    }


def _first_short_clip(lengths: list[int], joins: list[dict]) -> tuple[int, int] | None:
    for k, n in enumerate(lengths):
        need = 0
        if k > 0:
            need += joins[k - 1]["g2"] + joins[k - 1]["c"]
        if k < len(joins):
            need += joins[k]["g1"] + joins[k]["c"]
        if n < need:
            return k, need
    return None


def _shrink_around(settings: list[JoinSettings], clip: int, factor: float, name: str, length: int) -> list[JoinSettings]:
    out = list(settings)
    changed = False
    for j in (clip - 1, clip):
        if 0 <= j < len(out):
            s = out[j]
            context = max(1, int(s.context * factor))
            gap = max(0, int(s.gap * factor))
            if (context, gap) == (s.context, s.gap):
                context, gap = max(1, s.context - 1), max(0, s.gap - 1)
            changed |= (context, gap) != (s.context, s.gap)
            out[j] = JoinSettings(context, gap, s.replace, s.blend)
    if not changed:
        raise PlanError(
            f"{name} has only {length} frames: even the smallest join (context 1, gap 0) does not fit; "
            f"remove the clip or use a longer one"
        )
    return out


def _assemble(lengths: list[int], settings: list[JoinSettings], joins: list[dict], warnings: list[str]) -> JoinPlan:
    specs: list[JoinSpec] = []
    clips: list[ClipSpan] = []
    position = 0
    for k, n in enumerate(lengths):
        keep_start = joins[k - 1]["g2"] if k > 0 else 0
        keep_end = n - (joins[k]["g1"] if k < len(joins) else 0)
        if k > 0:
            position -= joins[k - 1]["c"]       # B's context overlaps the transition's tail
        clips.append(ClipSpan(k, keep_start, keep_end, position))
        position += keep_end - keep_start
        if k < len(joins):
            j = joins[k]
            transition_start = position - j["c"]
            specs.append(JoinSpec(
                index=k,
                transition_frames=j["T"],
                gap_frames=j["gap"],
                context_frames_a=j["c"],
                context_frames_b=j["c"],
                trim_from_a=j["g1"],
                trim_from_b=j["g2"],
                blend_frames=j["blend"],
                replace=j["replace"],
                context_a_start=keep_end - j["c"],
                context_b_start=j["g2"],
                transition_start=transition_start,
            ))
            position = transition_start + j["T"]
    return JoinPlan(clip_frames=lengths, joins=specs, clips=clips, total_frames=position, warnings=warnings)
