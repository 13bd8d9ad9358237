"""What every kind of run shares (``travel_run``, ``join_run``, ``extend_run``).

The plan-file version, the run id rule, the clip reference, the fields several kinds hold (seed,
encoder settings, generator, run directory and output; the guide adjustments of segment runs),
their checks (and those of paired sizes and image lists) and the plan-file dict live here once,
so a travel, a join and an extension refuse the same bad value with the same message and write
the same plan file layout.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ...video_utils.core.constants import (DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_PRESET, DEFAULT_SEED_POLICY,
                                           IMAGE_EXTENSIONS, PRESETS, SEED_POLICIES)
from ...video_utils.core.errors import PlanError, brief
from ...video_utils.core.lengths import check_step_memory
from ...video_utils.core.prompt_text import segment_prompts
from ...video_utils.core.recipe import finite, item_seeds, whole
from ...video_utils.core.step_settings import check_blend
from .checks import check_choice, check_file, check_name, check_text, size_fix
from .generator import GeneratorConfig

PLAN_VERSION = 1
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass
class ClipRef:
    """A clip a run reads (a join's clips, the clip an extension continues)."""

    path: str
    name: str = ""

    def label(self, index: int) -> str:
        shown = self.name or Path(self.path).name
        return f"clip {index} ({shown})" if shown else f"clip {index}"


@dataclass(kw_only=True)
class RunBase:
    """The fields and methods every kind of run shares.  Keyword-only, so a kind's own inputs
    (``images``, ``clips``, ``clip``) stay its first positional fields."""

    seed: int = 0                     # -1 = pick one now (then fixed in the manifest)
    seed_mode: str = DEFAULT_SEED_POLICY   # increment: seed + i; fixed: every item the same seed (as the original)
    # Stitch and encoder.
    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    run_id: str = ""
    output_dir: str = "segue_runs"    # run directories live in <output_dir>/<run_id>/
    out: str = ""                     # final video copied here too ("" = only the run directory)

    kind = ""

    def item_seed(self, index: int) -> int:
        """Item ``index``'s seed under the run's ``seed`` and ``seed_mode``."""
        return item_seeds(self.seed, index + 1, self.seed_mode)[index]

    def to_dict(self) -> dict:
        """The plan file's object: the kind's own fields first, then the shared ones."""
        values = asdict(self)
        data = {"segue_plan": PLAN_VERSION, "kind": self.kind}
        data.update((f.name, values[f.name]) for f in sorted(fields(self), key=lambda f: f.kw_only))
        data["generator"] = self.generator.to_dict()
        return data

    def check_common(self) -> None:
        """Checks every kind of run shares: ids, encoder settings, seed, numbers."""
        check_name(self.run_id, "run_id")
        if self.run_id and not RUN_ID_PATTERN.match(self.run_id):
            raise PlanError(f"run_id={self.run_id!r} may only hold letters, digits, '.', '_' and '-' "
                            f"(at most 80, not starting with '.' or '-')")
        check_name(self.output_dir, "output_dir", empty=False)
        check_name(self.out, "out")
        if self.out and Path(self.out).is_dir():
            raise PlanError(f"out={self.out!r} is a folder: give the video file to write, e.g. {self.out}/result.mp4")
        if self.preset not in PRESETS:
            raise PlanError(f"preset={brief(self.preset)} is not an x264 preset: use one of {', '.join(PRESETS)}")
        whole(self.crf, "crf", 0, 51)
        check_blend(self.curve, self.sharpen)
        check_choice(self.seed_mode, SEED_POLICIES, "seed_mode")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not -1 <= self.seed < 2 ** 63:
            raise PlanError(f"seed={brief(self.seed)} must be a whole number >= 0 (or -1 for a random one)")

    def check_size_pairs(self, *pairs: tuple[str, str, str]) -> None:
        """``(width field, height field, what 0 means)``: each a whole number, both given or neither."""
        for a, b, _ in pairs:
            for name in (a, b):
                whole(getattr(self, name), name, 0, 1_000_000)
        for a, b, zero in pairs:
            if bool(getattr(self, a)) != bool(getattr(self, b)):
                raise PlanError(f"{a}={getattr(self, a)}, {b}={getattr(self, b)}: give both or neither"
                                + (f" (0 = {zero})" if zero else ""))


@dataclass(kw_only=True)
class SegmentRun(RunBase):
    """What the runs made of generated segments share (travels and extensions): per-segment
    prompts and seeds, the guide adjustments of continued frames, the segment checks."""

    # Guide adjustments for the frames a segment continues (chained): strength blends them toward
    # grey, desaturate toward greyscale, darken scales them (negative brightens).
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0

    def segment_prompts(self, count: int | None = None) -> list[str]:
        return segment_prompts(plan_texts(self.prompts, "prompts"), self.segment_count if count is None else count,
                               "prompts")

    def segment_negative_prompts(self, count: int | None = None) -> list[str]:
        return segment_prompts(plan_texts(self.negative_prompts, "negative_prompts"),
                               self.segment_count if count is None else count, "negative_prompts")

    def segment_seed(self, index: int) -> int:
        return self.item_seed(index)

    def check_segment_settings(self, segments: int) -> None:
        """The prompts (one, or one per segment), the shared settings and the guide adjustments."""
        self.segment_prompts(segments)
        self.segment_negative_prompts(segments)
        self.check_common()
        for name, low in (("strength", 0.0), ("desaturate", 0.0), ("darken", -1.0)):
            finite(getattr(self, name), name, low, 1.0)

    def check_generation(self, plan, size: tuple[int, int] | None, check_files: bool) -> None:
        """The longest segment's frame memory at the generation ``size`` (None: not known here)
        and the generator against the plan's segments."""
        if size:
            check_step_memory(*size, max(s.generate_frames for s in plan.segments), "segment",
                              fix=size_fix("segment"))
        self.generator.validate(len(plan.segments), "segments", check_files)


def plan_texts(value, name: str) -> list[str]:
    """A plan's prompts: one text (for every item) or a list of texts (``segment_prompts`` counts them)."""
    if isinstance(value, str):
        return [check_text(value, name)]
    if not isinstance(value, list):
        raise PlanError(f"{name}={brief(value)} must be a text or a list of texts, one per segment")
    return [check_text(v, f"{name}[{i}]") for i, v in enumerate(value)]


def check_images(paths, label: str, name: str, check_files: bool, option: str = "") -> None:
    """Keyframe images: files that exist (``check_files``), else non-empty names (a plan checked
    away from its inputs).  ``label`` names one in a message, ``name`` is the field, ``option`` the
    command-line option that gives them (`` (--to)``)."""
    if not isinstance(paths, list):
        raise PlanError(f"{name}={brief(paths)} must be a list of image paths{option}")
    for i, path in enumerate(paths):
        if check_files:
            check_file(path, f"{label} {i}{option}", IMAGE_EXTENSIONS)
        else:
            check_name(path, f"{name}[{i}]", empty=False)
