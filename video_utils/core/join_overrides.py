"""Per-join settings: the base context/gap/replace/blend with each join's overrides merged over it.

Overrides arrive from JSON (plan files, the node's ``per_join_settings`` text), so every key and
value is checked here and a mistake names the join and the key; ``plan_join`` then sees only
well-typed ``JoinSettings`` (a blend longer than its context refused) and checks their ranges.  ``JOIN_OVERRIDE_KEYS`` is the one list of
keys a join may override (the orchestrator's plan files accept exactly these, plus prompts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from .errors import PlanError
from .lengths import MAX_GENERATION_FRAMES, flag, whole_number

JOIN_OVERRIDE_KEYS = ("context", "gap", "replace", "blend")
# Per-join keys only the prompts use (a plan's per_join entries may hold them too).
JOIN_PROMPT_KEYS = ("prompt", "negative_prompt", "seed")
# The original orchestrator's names for the same settings (accepted in per_join_settings).
SEED_JOIN_KEYS = {"context_frame_count": "context", "gap_frame_count": "gap",
                  "replace_mode": "replace", "blend_frames": "blend"}


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
