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

Loop (``loop=True``): one more join, from the last clip's tail back into clip 0's head (join
``n-1``: ``clip_a = n-1``, ``clip_b = 0``; a single clip loops onto itself).  The video starts at
clip 0's first kept frame, i.e. where that transition's B context begins (its first
``blend_frames`` are the transition fading into clip 0), and ends with the transition's frames up
to where its B context begins, so playing it in a loop repeats no frame and jumps nowhere.
``total_frames`` is the period: the sum of the kept clip frames plus every join's gap.

Two timelines (issue 8).  Everything above is in OUTPUT frames (clip frames after conforming to
``output_fps``); each join is also generated as ``generation_frames`` (4n+1) frames at
``generation_fps``.  How the two are tied (``transition_lengths``, ``JoinSpec.stretch`` and the
context source positions) is ``transition_timeline.py``.

Per-join overrides (``per_join``: one object per join, ``null`` = none) arrive from JSON (plan
files, the nodes' ``per_join`` text, ``--per-join``), so every key and value is checked here and a
mistake names the join and the key; ``JOIN_OVERRIDE_KEYS`` is the one list of keys a join may
override (plan files accept exactly these, plus the prompts' ``JOIN_PROMPT_KEYS``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Mapping, Sequence

from .constants import DEFAULT_JOIN_CONTEXT, DEFAULT_JOIN_GAP
from .errors import PlanError
from .lengths import (GENERATION_FPS, MAX_GENERATION_FRAMES, MAX_ITEMS, MAX_VIDEO_FRAMES, check_rates, flag, fps_text,
                      whole_number)
from .transition_timeline import TransitionTimeline, transition_lengths

JOIN_OVERRIDE_KEYS = ("context", "gap", "replace", "blend")
# Per-join keys only the prompts use (a plan's per_join entries may hold them too).
JOIN_PROMPT_KEYS = ("prompt", "negative_prompt", "seed")
# The original orchestrator's names for the same settings (accepted in per_join_settings).
SEED_JOIN_KEYS = {"context_frame_count": "context", "gap_frame_count": "gap",
                  "replace_mode": "replace", "blend_frames": "blend"}



@dataclass(frozen=True)
class JoinSpec(TransitionTimeline):
    index: int
    transition_frames: int     # output frames of the transition (= generation_frames at equal rates)
    gap_frames: int            # effective gap (generated frames between the contexts), output frames
    context_frames_a: int
    context_frames_b: int
    trim_from_a: int           # frames removed from A's tail (replace mode)
    trim_from_b: int           # frames removed from B's head (replace mode)
    blend_frames: int          # frames cross-faded on each side of the transition
    replace: bool
    context_a_start: int       # first frame of A used as context
    context_b_start: int       # first frame of B used as context
    transition_start: int      # final-video position of the transition's first frame
    generation_frames: int     # 4n+1 frames the sampler generates (generation rate)
    context_gen_a: int         # guide frames [0, context_gen_a) = A's context (mask 0)
    context_gen_b: int         # last context_gen_b guide frames = B's context (mask 0)
    gap_gen_frames: int        # generated guide frames between them (grey, mask 1)
    clip_a: int                # clip whose tail this join reads (index)
    clip_b: int                # clip whose head it reads: index + 1, or 0 for a loop's last join


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
    loop: bool = False
    generation_fps: Fraction = GENERATION_FPS
    output_fps: Fraction = GENERATION_FPS

    @property
    def duration(self) -> Fraction:
        """Exact seconds of the joined video (a loop: one period)."""
        return Fraction(self.total_frames) / self.output_fps

    def clip_pair(self, join: int) -> tuple[int, int]:
        """``(A, B)`` clip indices of join ``join``."""
        spec = self.joins[join]
        return spec.clip_a, spec.clip_b

    def to_dict(self) -> dict:
        """The JSON contract of ``segue plan join --json``: output frames, generation frames, seconds."""
        out, gen = self.output_fps, self.generation_fps

        def sec(frames, rate=out) -> float:
            return round(float(Fraction(frames) / rate), 6)

        joins = []
        for j in self.joins:
            entry = asdict(j)
            entry["seconds"] = {
                "start": sec(j.transition_start), "transition": sec(j.transition_frames),
                "context_a": sec(j.context_frames_a), "gap": sec(j.gap_frames),
                "context_b": sec(j.context_frames_b), "generation": sec(j.generation_frames, gen),
            }
            joins.append(entry)
        return {
            "clip_frames": list(self.clip_frames),
            "joins": joins,
            "clips": [asdict(c) for c in self.clips],
            "total_frames": self.total_frames,
            "loop": self.loop,
            "generation_fps": fps_text(gen),
            "output_fps": fps_text(out),
            "seconds": sec(self.total_frames),
            "warnings": list(self.warnings),
        }


def join_count(clip_count: int, loop: bool = False) -> int:
    """Joins of ``clip_count`` clips: one per consecutive pair, one more (last -> first) for a loop."""
    return clip_count if loop else clip_count - 1


def plan_join(
    clip_frames: Sequence[int],
    context: int = DEFAULT_JOIN_CONTEXT,
    gap: int = DEFAULT_JOIN_GAP,
    replace: bool = False,
    blend: int | None = None,
    per_join: Sequence[Mapping] | Mapping | None = None,
    allow_shrink: bool = False,
    clip_names: Sequence[str] | None = None,
    *,
    loop: bool = False,
    generation_fps=None,
    output_fps=None,
) -> JoinPlan:
    """Plan the joins of ``clip_frames`` (frame counts at the output rate, in order).

    A clip too short for its contexts and replaced frames is an error naming it, unless
    ``allow_shrink``: then the contexts and gaps of the joins touching it shrink in proportion
    (context at least 1, gap at least 0) until it fits, and the plan carries a warning.
    ``loop`` adds the join from the last clip back to clip 0.  ``generation_fps`` (default 16)
    and ``output_fps`` (default: the generation rate, i.e. today's single-rate plan) set the two
    timelines; context, gap and blend are output frames.  A blend longer than its join's context
    is refused (``join_settings`` below).
    """
    loop = flag(loop, "loop")
    shrink = flag(allow_shrink, "allow_shrink")
    gen, out = check_rates(generation_fps, output_fps)
    if isinstance(clip_frames, (str, bytes)) or not isinstance(clip_frames, Sequence):
        raise PlanError(f"clip_frames={clip_frames!r} must be a list of frame counts, one per clip")
    if len(clip_frames) > MAX_ITEMS:
        raise PlanError(f"clip_frames has {len(clip_frames)} clips, above the limit of {MAX_ITEMS}: join fewer clips")
    lengths = [whole_number(n, f"clip_frames[{i}]", None, MAX_VIDEO_FRAMES) for i, n in enumerate(clip_frames)]
    if clip_names and len(clip_names) != len(lengths):
        raise PlanError(f"clip_names has {len(clip_names)} names for {len(lengths)} clips: give one name per clip")
    names = [str(n) for n in clip_names] if clip_names else [f"clip {i}" for i in range(len(lengths))]
    if len(lengths) < (1 if loop else 2):
        if loop:
            raise PlanError("a looping join needs at least 1 clip, got 0: add a clip")
        raise PlanError(f"joining needs at least 2 clips, got {len(lengths)}: add another clip")
    for i, n in enumerate(lengths):
        if n < 1:
            raise PlanError(f"{names[i]} has {n} frames: every clip needs at least 1 frame")
    n_joins = join_count(len(lengths), loop)
    settings = join_settings(n_joins, context, gap, replace, blend, per_join)
    for i, s in enumerate(settings):
        if s.context < 1:
            raise PlanError(f"context of join {i} is {s.context}: use at least 1 frame")
        if s.gap < 0:
            raise PlanError(f"gap of join {i} is {s.gap}: use 0 or more frames")
        if s.blend is not None and s.blend < 0:
            raise PlanError(f"blend of join {i} is {s.blend}: use 0 or more frames")

    warnings: list[str] = []
    for _ in range(64):
        joins = [_join_numbers(i, s, gen, out) for i, s in enumerate(settings)]
        short = _first_short_clip(lengths, joins, loop)
        if short is None:
            break
        clip, need = short
        if not shrink:
            raise PlanError(
                f"{names[clip]} has {lengths[clip]} frames but its joins need at least {need} "
                f"(contexts plus frames replaced on each side): use a longer clip, lower context/gap "
                f"for its joins, or allow shrinking"
            )
        settings = _shrink_around(settings, clip, lengths[clip] / need, names[clip], lengths[clip], loop)
        warnings.append(f"{names[clip]} ({lengths[clip]} frames) was too short for its joins: shrank them to fit")
    else:  # pragma: no cover - _shrink_around raises before looping forever
        raise PlanError("could not shrink the joins to fit the clips")

    return _assemble(lengths, joins, warnings, loop, gen, out)


def _join_numbers(index: int, s: JoinSettings, gen: Fraction, out: Fraction) -> dict:
    t = transition_lengths(s.context, s.gap, gen, out)
    if t.generation_frames > MAX_GENERATION_FRAMES:
        raise PlanError(
            f"join {index} would generate {t.generation_frames} frames (context {s.context}, gap {s.gap}), above "
            f"the limit of {MAX_GENERATION_FRAMES}: lower its context or gap"
        )
    g1 = t.gap // 2 if s.replace else 0
    return {
        "index": index, "T": t.frames, "gap": t.gap, "c": s.context,
        "g1": g1, "g2": (t.gap - g1) if s.replace else 0,
        "blend": s.context if s.blend is None else int(s.blend),      # at most the context (join_settings)
        "replace": s.replace,
        "T_gen": t.generation_frames, "c_gen": t.context_generation, "gap_gen": t.gap_generation,
    }


def _before(k: int, n_joins: int, loop: bool) -> int | None:
    """The join that ends on clip ``k`` (whose B side is clip k), if any."""
    if k > 0:
        return k - 1
    return n_joins - 1 if loop else None


def _first_short_clip(lengths: list[int], joins: list[dict], loop: bool) -> tuple[int, int] | None:
    for k, n in enumerate(lengths):
        need = 0
        before = _before(k, len(joins), loop)
        if before is not None:
            need += joins[before]["g2"] + joins[before]["c"]
        if k < len(joins):
            need += joins[k]["g1"] + joins[k]["c"]
        if n < need:
            return k, need
    return None


def _shrink_around(settings: list[JoinSettings], clip: int, factor: float, name: str, length: int,
                   loop: bool) -> list[JoinSettings]:
    out = list(settings)
    changed = False
    touching = {_before(clip, len(out), loop), clip}
    for j in sorted(t for t in touching if t is not None and 0 <= t < len(out)):
        s = out[j]
        context = max(1, int(s.context * factor))
        gap = max(0, int(s.gap * factor))
        if (context, gap) == (s.context, s.gap):
            context, gap = max(1, s.context - 1), max(0, s.gap - 1)
        changed |= (context, gap) != (s.context, s.gap)
        # allow_shrink: a blend longer than the shrunk context shrinks with it (the warning says so)
        out[j] = JoinSettings(context, gap, s.replace, None if s.blend is None else min(s.blend, context))
    if not changed:
        raise PlanError(
            f"{name} has only {length} frames: even the smallest join (context 1, gap 0) does not fit; "
            f"remove the clip or use a longer one"
        )
    return out


def _assemble(lengths: list[int], joins: list[dict], warnings: list[str], loop: bool,
              gen: Fraction, out: Fraction) -> JoinPlan:
    specs: list[JoinSpec] = []
    clips: list[ClipSpan] = []
    position = 0
    n = len(lengths)
    for k, frames in enumerate(lengths):
        before = _before(k, len(joins), loop)
        keep_start = joins[before]["g2"] if before is not None else 0
        keep_end = frames - (joins[k]["g1"] if k < len(joins) else 0)
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
                generation_frames=j["T_gen"],
                context_gen_a=j["c_gen"],
                context_gen_b=j["c_gen"],
                gap_gen_frames=j["gap_gen"],
                clip_a=k,
                clip_b=(k + 1) % n,
            ))
            position = transition_start + j["T"]
    if loop:
        position -= joins[-1]["c"]              # the loop transition's B context is the video's start
    return JoinPlan(clip_frames=lengths, joins=specs, clips=clips, total_frames=position, warnings=warnings,
                    loop=loop, generation_fps=gen, output_fps=out)


# --- per-join settings: the base with each join's overrides merged over it ---------------------

@dataclass(frozen=True)
class JoinSettings:
    context: int
    gap: int
    replace: bool
    blend: int | None = None   # None = blend over the whole context


def join_settings(
    n_joins: int,
    context: int,
    gap: int,
    replace: bool,
    blend: int | None = None,
    per_join: Sequence[Mapping] | Mapping | None = None,
) -> list[JoinSettings]:
    """Base settings with ``per_join[i]`` shallow-merged over join ``i`` (unknown keys rejected).

    ``per_join`` is a list (entry ``i`` for join ``i``, ``None``/``{}`` = no override) or a mapping
    ``{join index: overrides}``; entries for joins that do not exist are errors.  Values are
    type-checked here (whole numbers, true/false); their ranges are checked by ``plan_join``.
    """
    overrides = _per_join_entries(per_join, n_joins)
    base = _settings_values({"context": context, "gap": gap, "replace": replace, "blend": blend}, "")
    out = []
    for i in range(n_joins):
        override = overrides.get(i, {})
        unknown = sorted(set(override) - set(JOIN_OVERRIDE_KEYS), key=str)
        if unknown:
            raise PlanError(
                f"per_join_settings[{i}] has unknown keys {unknown}: use only {', '.join(JOIN_OVERRIDE_KEYS)}"
            )
        values = {**base, **_settings_values(override, f"per_join_settings[{i}].")}
        _check_blend(values, override, i)
        out.append(JoinSettings(values["context"], values["gap"], values["replace"], values["blend"]))
    return out


def _check_blend(values: dict, override: Mapping, index: int) -> None:
    """A cross-fade lies inside its context: a longer blend is refused (never silently shortened),
    naming the setting it came from (the base or join ``index``'s override)."""
    blend, context = values["blend"], values["context"]
    if blend is None or blend <= context:
        return
    blend_name = f"per_join_settings[{index}].blend" if "blend" in override else "blend"
    context_name = f"per_join_settings[{index}].context" if "context" in override else "context"
    raise PlanError(f"{blend_name}={blend} is longer than {context_name}={context} (join {index}): the cross-fade "
                    f"lies inside the context, so use a blend of at most {context} (or leave it unset for the "
                    f"whole context)")


def _per_join_entries(per_join, n_joins: int) -> dict[int, dict]:
    if per_join is None:
        return {}
    if isinstance(per_join, Mapping):
        items = []
        for key, entry in per_join.items():
            index = key if isinstance(key, int) and not isinstance(key, bool) else \
                int(key) if isinstance(key, str) and key.strip().isdigit() else None
            if index is None:
                raise PlanError(f"per_join_settings key {key!r} is not a join index: use 0..{n_joins - 1}")
            if index >= n_joins:
                raise PlanError(
                    f"per_join_settings has an entry for join {index} but there are only {n_joins} joins "
                    f"(0..{n_joins - 1}): remove it"
                )
            items.append((index, entry))
    elif isinstance(per_join, (str, bytes)) or not isinstance(per_join, Sequence):
        raise PlanError(f"per_join_settings={per_join!r} must be a list with one object of overrides per join")
    else:
        if len(per_join) > n_joins:
            raise PlanError(
                f"per_join_settings has {len(per_join)} entries but there are only {n_joins} joins: "
                f"remove the extra entries"
            )
        items = list(enumerate(per_join))
    out = {}
    for index, entry in items:
        if entry is None:
            continue
        if not isinstance(entry, Mapping):
            raise PlanError(f"per_join_settings[{index}]={entry!r} must be an object of overrides")
        out[index] = dict(entry)
    return out


def _settings_values(values: Mapping, prefix: str) -> dict:
    """Type-checked setting values (only the keys present)."""
    out = {}
    for key in ("context", "gap"):
        if key in values:
            out[key] = whole_number(values[key], prefix + key, None, MAX_GENERATION_FRAMES)
    if "replace" in values:
        out["replace"] = flag(values["replace"], prefix + "replace")
    if "blend" in values:
        out["blend"] = None if values["blend"] is None else \
            whole_number(values["blend"], prefix + "blend", None, MAX_GENERATION_FRAMES)
    return out
