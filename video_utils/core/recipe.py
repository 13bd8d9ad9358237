"""A generation recipe: which chain fills the guide's masked frames, and with which settings.

The same ``Recipe`` drives the one-node travel/join (the ``SegueRecipe`` node makes one), the
orchestrator (the ``generator`` object of a plan file) and the command line, and
``video_utils.core.chains`` turns it into the same core-node chain on every path.  Pure standard
library: the orchestrator imports it without torch.

Generators: ``preview`` (CPU morph, no model), ``wan-vace`` (Wan 2.1 VACE, or the Wan 2.2 VACE-Fun
experts: ``WanVaceToVideo``), ``wan-flf`` (first-last-frame models without VACE:
``WanFirstLastFrameToVideo``) and ``template`` (the user's own API-format sampler graph with the
``SegueGuideSlot`` / ``SegueFramesSlot`` markers).  The command line's ``wan21-vace`` /
``wan22-vace`` are names for ``wan-vace`` (``generator_kind``).

Sampling: with no ``phases`` a single model samples all ``steps`` with one ``KSampler``; with a
low-noise expert and no ``phases`` the high-noise model samples ``[0, split_step)`` and the low
one the rest (the two-expert shorthand).  ``phases`` spell the schedule out: each phase names its
expert (``high``/``low``), where it ends (``end_step``; the last runs to the end), its CFG,
optional sampler/scheduler and LoRAs; the chain is ``KSamplerAdvanced`` per phase over contiguous
step ranges, noise added only by the first.  LoRAs (``LoraLoaderModelOnly``) come per run
(``loras``: every model), per phase and per segment (``segment_loras``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Sequence

from .constants import (COLOUR_MATCH_MODES, COLOUR_METHODS, DEFAULT_COLOUR_MATCH, DEFAULT_COLOUR_METHOD,
                        DEFAULT_PREVIEW_METHOD, DEFAULT_SEED_POLICY, PREVIEW_METHODS, SEED_POLICIES)
from .errors import PlanError

GENERATORS = ("preview", "wan-vace", "wan-flf", "template")
GENERATOR_ALIASES = {"wan21-vace": "wan-vace", "wan22-vace": "wan-vace", "vace": "wan-vace", "flf": "wan-flf"}
EXPERTS = ("high", "low")
MAX_STEPS = 10_000
LAST_STEP = 10_000          # KSamplerAdvanced end_at_step meaning "to the end"


def generator_kind(name: str) -> str:
    """The canonical generator name for ``name`` (command-line aliases accepted)."""
    kind = GENERATOR_ALIASES.get(str(name), str(name))
    if kind not in GENERATORS:
        raise PlanError(f"generator={name!r} is not a generator: use one of {', '.join(GENERATORS)} "
                        f"(or wan21-vace / wan22-vace)")
    return kind


@dataclass(frozen=True)
class Lora:
    name: str
    strength: float = 1.0

    @classmethod
    def parse(cls, value: Any, where: str) -> "Lora":
        """``{"name": F, "strength": S}``, ``[F, S]`` or ``"F"`` / ``"F:S"``."""
        if isinstance(value, Lora):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"name", "strength"})
            if unknown:
                raise PlanError(f"{where} has unknown keys {unknown}: a LoRA is {{\"name\": file, \"strength\": S}}")
            name, strength = value.get("name"), value.get("strength", 1.0)
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            name, strength = value
        elif isinstance(value, str):
            name, sep, text = value.rpartition(":")
            try:
                strength = float(text) if sep else 1.0
            except ValueError:
                sep = ""
            if not sep:
                name, strength = value, 1.0
        else:
            raise PlanError(f"{where}={value!r} is not a LoRA: write {{\"name\": \"file.safetensors\", \"strength\": 1.0}}")
        if not isinstance(name, str) or not name.strip():
            raise PlanError(f"{where} has no LoRA file name: give \"name\": the file as ComfyUI lists it (models/loras)")
        return cls(name.strip(), finite(strength, f"{where}.strength", -100.0, 100.0))


@dataclass(frozen=True)
class Phase:
    """One sampler phase: ``model`` expert, steps up to ``end_step`` (None = to the end)."""

    model: str = "high"
    end_step: int | None = None
    cfg: float | None = None          # None = the recipe's cfg
    sampler: str | None = None
    scheduler: str | None = None
    loras: tuple[Lora, ...] = ()

    @classmethod
    def parse(cls, value: Any, where: str) -> "Phase":
        if isinstance(value, Phase):
            return value
        if not isinstance(value, dict):
            raise PlanError(f"{where}={value!r} must be an object like {{\"model\": \"high\", \"end_step\": 2, \"cfg\": 3}}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise PlanError(f"{where} has unknown keys {unknown}: a phase has {', '.join(sorted(known))}")
        model = value.get("model", "high")
        if model not in EXPERTS:
            raise PlanError(f"{where}.model={model!r}: use \"high\" (the model, or Wan 2.2's high-noise expert) or \"low\"")
        end = value.get("end_step")
        if end is not None:
            end = whole(end, f"{where}.end_step", 1, MAX_STEPS)
        cfg = value.get("cfg")
        return cls(model=model, end_step=end, cfg=None if cfg is None else finite(cfg, f"{where}.cfg", 0.0, 100.0),
                   sampler=_optional_text(value.get("sampler"), f"{where}.sampler"),
                   scheduler=_optional_text(value.get("scheduler"), f"{where}.scheduler"),
                   loras=tuple(Lora.parse(v, f"{where}.loras[{i}]") for i, v in enumerate(_list(value.get("loras"), f"{where}.loras"))))


@dataclass(frozen=True)
class PhaseRun:
    """A phase resolved against the recipe: what one sampler node does."""

    model: str
    start: int
    end: int                  # LAST_STEP for the last phase
    cfg: float
    sampler: str
    scheduler: str
    loras: tuple[Lora, ...]
    first: bool
    last: bool


@dataclass(frozen=True)
class Recipe:
    kind: str = "preview"
    steps: int = 20
    cfg: float = 5.0
    sampler: str = "uni_pc"
    scheduler: str = "simple"
    shift: float = 5.0                       # ModelSamplingSD3 shift on every model; 0 = the model as connected
    split_step: int | None = None            # two experts, no phases: high runs [0, split); None = steps // 2
    phases: tuple[Phase, ...] = ()
    loras: tuple[Lora, ...] = ()             # on every model
    segment_loras: tuple[tuple[Lora, ...], ...] = ()   # entry i: added on every model for item i
    vace_strength: float = 1.0
    preview_method: str = DEFAULT_PREVIEW_METHOD
    colour_match: str = DEFAULT_COLOUR_MATCH   # none | previous (the frames it continues) | first_keyframe
    colour_method: str = DEFAULT_COLOUR_METHOD
    colour_strength: float = 1.0
    saturation: float = 1.0                  # after the first segment (every transition of a join)
    brightness: float = 0.0                  # ditto: pixels * (1 + brightness)
    seed: int = 0
    seed_policy: str = DEFAULT_SEED_POLICY
    template: str = ""                       # template generator: the API-format graph file

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, where: str = "generator") -> "Recipe":
        """From a plan file's ``generator`` object (unknown keys are an error; callers strip
        the model-file keys they handle themselves)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PlanError(f"{where} has unknown keys {unknown}: known keys are {', '.join(sorted(known))}")
        values = dict(data)
        if "kind" in values:
            values["kind"] = generator_kind(values["kind"])
        values["phases"] = tuple(Phase.parse(p, f"{where}.phases[{i}]") for i, p in enumerate(_list(values.get("phases"), f"{where}.phases")))
        values["loras"] = tuple(Lora.parse(v, f"{where}.loras[{i}]") for i, v in enumerate(_list(values.get("loras"), f"{where}.loras")))
        values["segment_loras"] = tuple(
            tuple(Lora.parse(v, f"{where}.segment_loras[{i}][{k}]") for k, v in enumerate(_list(entry, f"{where}.segment_loras[{i}]")))
            for i, entry in enumerate(_list(values.get("segment_loras"), f"{where}.segment_loras")))
        for name, high in (("steps", MAX_STEPS), ("seed", 2 ** 64 - 1)):
            if name in values:
                values[name] = whole(values[name], f"{where}.{name}", 1 if name == "steps" else 0, high)
        if values.get("split_step") is not None:
            values["split_step"] = whole(values["split_step"], f"{where}.split_step", 1, MAX_STEPS)
        for name in ("sampler", "scheduler"):
            if name in values:
                values[name] = _optional_text(values[name], f"{where}.{name}") or ""
        if "template" in values and not isinstance(values["template"], str):
            raise PlanError(f"{where}.template={values['template']!r} must be a file name")
        recipe = cls(**values)
        recipe.validate(where)
        return recipe

    def to_dict(self) -> dict:
        data = asdict(self)
        data["phases"] = [{k: v for k, v in asdict(p).items() if v not in (None, (), [])} for p in self.phases]
        return data

    # --- checks -------------------------------------------------------------------------------
    def validate(self, where: str = "generator", has_low: bool | None = None) -> None:
        """Raise PlanError naming the first bad setting.  ``has_low``: whether a low-noise expert
        is connected (None = unknown yet, skip that check)."""
        generator_kind(self.kind)
        whole(self.steps, f"{where}.steps", 1, MAX_STEPS)
        finite(self.cfg, f"{where}.cfg", 0.0, 100.0)
        finite(self.shift, f"{where}.shift", 0.0, 100.0)
        finite(self.vace_strength, f"{where}.vace_strength", 0.0, 1000.0)
        finite(self.colour_strength, f"{where}.colour_strength", 0.0, 1.0)
        finite(self.saturation, f"{where}.saturation", 0.0, 4.0)
        finite(self.brightness, f"{where}.brightness", -1.0, 1.0)
        whole(self.seed, f"{where}.seed", 0, 2 ** 64 - 1)
        check_choice(self.preview_method, PREVIEW_METHODS, f"{where}.preview_method")
        check_choice(self.colour_match, COLOUR_MATCH_MODES, f"{where}.colour_match")
        check_choice(self.colour_method, COLOUR_METHODS, f"{where}.colour_method")
        check_choice(self.seed_policy, SEED_POLICIES, f"{where}.seed_policy")
        for name in ("sampler", "scheduler"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise PlanError(f"{where}.{name}={getattr(self, name)!r} must be a name like \"euler\" / \"simple\"")
        if self.split_step is not None:
            whole(self.split_step, f"{where}.split_step", 1, MAX_STEPS)
        if self.kind == "template" and not self.template:
            raise PlanError(f"{where}: the template generator needs the template file (an API-format graph "
                            f"with SegueGuideSlot and SegueFramesSlot)")
        if self.kind in ("wan-vace", "wan-flf") and has_low is not None:
            self.sampling(has_low, where)

    # --- sampling schedule ----------------------------------------------------------------------
    def sampling(self, has_low: bool, where: str = "generator") -> tuple[PhaseRun, ...]:
        """The sampler nodes this recipe makes (one entry = one KSampler/KSamplerAdvanced)."""
        phases = self.phases
        if not phases:
            if not has_low:
                return (PhaseRun("high", 0, LAST_STEP, float(self.cfg), self.sampler, self.scheduler, (), True, True),)
            split = self.steps // 2 if self.split_step is None else int(self.split_step)
            if not 0 < split < self.steps:
                raise PlanError(f"{where}.split_step={self.split_step} must be between 1 and steps-1 "
                                f"({self.steps - 1}): the high-noise expert runs steps [0, split), the low-noise one the rest")
            phases = (Phase("high", split), Phase("low"))
        runs, start = [], 0
        for i, phase in enumerate(phases):
            last = i == len(phases) - 1
            if phase.model == "low" and not has_low:
                raise PlanError(f"{where}.phases[{i}] uses the low-noise expert but none is connected: connect "
                                f"model_low_noise (--unet-low), or use \"high\"")
            end = phase.end_step
            if last:
                if end is not None and end != self.steps:
                    raise PlanError(f"{where}.phases[{i}].end_step={end}: the last phase runs to the end "
                                    f"(steps={self.steps}); leave end_step out")
                end = LAST_STEP
            elif end is None or not start < end < self.steps:
                raise PlanError(f"{where}.phases[{i}].end_step={end} must be above {start} (where it starts) and "
                                f"below steps={self.steps}: phases take contiguous step ranges, the last runs to the end")
            runs.append(PhaseRun(phase.model, start, end, float(self.cfg if phase.cfg is None else phase.cfg),
                                 phase.sampler or self.sampler, phase.scheduler or self.scheduler, phase.loras,
                                 i == 0, last))
            start = end
        return tuple(runs)

    def item_loras(self, index: int) -> tuple[Lora, ...]:
        """The run's LoRAs plus item ``index``'s own."""
        extra = self.segment_loras[index] if index < len(self.segment_loras) else ()
        return self.loras + tuple(extra)

    def item_seeds(self, count: int) -> list[int]:
        return item_seeds(self.seed, count, self.seed_policy)

    def check_items(self, count: int, what: str = "segments", where: str = "generator") -> None:
        if len(self.segment_loras) > count:
            raise PlanError(f"{where}.segment_loras has {len(self.segment_loras)} entries but there are only "
                            f"{count} {what}: give at most one list per {what[:-1]}")


def item_seeds(seed: int, count: int, policy: str = DEFAULT_SEED_POLICY) -> list[int]:
    """Seed of every segment/transition: the same one (``fixed``) or ``seed + i`` (wrapping at 2**64)."""
    check_choice(policy, SEED_POLICIES, "seed_policy")
    if policy == "fixed":
        return [int(seed)] * count
    return [(int(seed) + i) % (2 ** 64) for i in range(count)]


# --- value checks shared with the run models ------------------------------------------------------

def finite(value: Any, name: str, low: float | None = None, high: float | None = None) -> float:
    """A real number (not bool, NaN or inf) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{name}={value!r} must be a number")
    if not math.isfinite(value):
        raise PlanError(f"{name}={value!r} must be a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise PlanError(f"{name}={value:g} is outside {low:g}..{high:g}")
    return float(value)


def whole(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number (not bool; 3.0 accepted) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and (not math.isfinite(value) or value != int(value))):
        raise PlanError(f"{name}={value!r} must be a whole number")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise PlanError(f"{name}={value} is outside {low}..{high}")
    return value


def check_choice(value: Any, options: Sequence, name: str) -> str:
    """A value from a fixed list (combos, modes, methods) - the one such check of the pack: V3
    combos are not checked by ComfyUI, and plan files and the command line reach the same lists."""
    try:
        known = value in options
    except TypeError:          # an unhashable value (a list, an object) against a set of names
        known = False
    if not known:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise PlanError(f"{name}={shown} is not one of {', '.join(map(str, options))}")
    return value


def _list(value: Any, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise PlanError(f"{name}={value!r} must be a list")
    return list(value)


def _optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise PlanError(f"{name}={value!r} must be a name like \"euler\"")
    return value
