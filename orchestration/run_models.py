"""The runs the orchestrator executes: travels, joins and extensions, validated up front.

A *run* is everything a ``/prompt`` orchestration (or the local renderer) needs: the inputs
(keyframe images, clips, or the clip to extend), the frame settings, the prompts, the seed
policy, the generator (``GeneratorConfig``: the recipe plus model file names), the colour and
guide adjustments and the output.  Plan files (``plan_files``) are these objects as JSON; the
original queue orchestrator's payloads convert to them (``original_payloads``).

Frame arithmetic is never done here: ``validate()`` calls the same planners the nodes use
(``video_utils.travel_plan`` / ``join_plan`` / ``extend_plan``), so a run that validates here is
the plan the server executes.  Every field is type- and range-checked, so a bad value is refused
with a ``PlanError`` naming it, its value and the fix, before any server is contacted and before
anything is written.  Clips are probed with ``video_utils.probe`` (PyAV, no torch).
"""

from __future__ import annotations

import functools
import json

import os
import random
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..video_utils.chains import ModelFiles
from ..video_utils.constants import (CURVES, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_PRESET, DEFAULT_SEED_POLICY,
                                     GENERATION_FPS, IMAGE_EXTENSIONS, PRESETS, SEED_POLICIES)
from ..video_utils.errors import PlanError
from ..video_utils.extend_plan import ExtendPlan, plan_extend
from ..video_utils.join_plan import JOIN_OVERRIDE_KEYS, JoinPlan, plan_join
from ..video_utils.lengths import DEFAULT_MAX_GENERATION, as_fps, flag
from ..video_utils.recipe import Recipe, finite, item_seeds, whole
from ..video_utils.retime import RETIME_MODES, conformed_frame_count
from ..video_utils.sizes import (CONFORM_FIT_MODES, FIT_MODES, check_fit, even_size, generation_size, wan_size,
                                 working_size)
from ..video_utils.travel_plan import MODES, TravelPlan, plan_travel
from .run_checks import (brief, broadcast_text, check_choice, check_file, check_fps, check_frame_memory, check_name,
                         check_text, image_size, int_or_list, probe_clip)

PLAN_VERSION = 1


@functools.lru_cache(maxsize=64)
def _parsed_recipe(settings_json: str) -> Recipe:
    """``Recipe.from_dict`` of these settings, parsed once (a run builds a prompt per step)."""
    return Recipe.from_dict(json.loads(settings_json), "generator")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
# Per-join override keys: the planner's own plus the ones only the prompt graph uses.
JOIN_PROMPT_KEYS = ("prompt", "negative_prompt", "seed")
# The original orchestrator's names for the same settings (accepted in per_join_settings).
SEED_JOIN_KEYS = {"context_frame_count": "context", "gap_frame_count": "gap",
                  "replace_mode": "replace", "blend_frames": "blend"}
FILE_KEYS = ("unet", "unet_low", "vae", "clip", "clip_vision", "weight_dtype")
REFERENCE_KEYS = ("reference_image", "segment_reference_images")
WAN_KINDS = ("wan-vace", "wan-flf")


def _common(run: "Run") -> None:
    """Checks every kind of run shares: ids, encoder settings, seed, numbers."""
    check_name(run.run_id, "run_id")
    if run.run_id and not RUN_ID_PATTERN.match(run.run_id):
        raise PlanError(f"run_id={run.run_id!r} may only hold letters, digits, '.', '_' and '-' "
                        f"(at most 80, not starting with '.' or '-')")
    check_name(run.output_dir, "output_dir", empty=False)
    check_name(run.out, "out")
    if run.out and Path(run.out).is_dir():
        raise PlanError(f"out={run.out!r} is a folder: give the video file to write, e.g. {run.out}/result.mp4")
    check_choice(run.curve, CURVES, "curve")
    if run.preset not in PRESETS:
        raise PlanError(f"preset={brief(run.preset)} is not an x264 preset: use one of {', '.join(PRESETS)}")
    whole(run.crf, "crf", 0, 51)
    finite(run.sharpen, "sharpen", 0.0, 1.0)
    check_choice(run.seed_mode, SEED_POLICIES, "seed_mode")
    if isinstance(run.seed, bool) or not isinstance(run.seed, int) or not -1 <= run.seed < 2 ** 63:
        raise PlanError(f"seed={brief(run.seed)} must be a whole number >= 0 (or -1 for a random one)")


def _adjustments(run: "TravelRun | ExtendRun") -> None:
    """The guide adjustments of continued frames (chained context)."""
    for name, low in (("strength", 0.0), ("desaturate", 0.0), ("darken", -1.0)):
        finite(getattr(run, name), name, low, 1.0)


# --- the generator --------------------------------------------------------------------------------

@dataclass
class GeneratorConfig:
    """A plan file's ``generator``: the recipe (``video_utils.recipe.Recipe``: generator kind,
    sampler settings, phases, LoRAs, colour...) plus what only a prompt that loads its own models
    needs: model file names as the server lists them and reference image files.

    ``kind``: ``preview`` (no model files), ``wan21-vace`` / ``wan-vace`` (``unet``, ``vae``,
    ``clip``), ``wan22-vace`` (also ``unet_low``: the low-noise expert; ``unet`` is the high-noise
    one), ``wan-flf`` (first-last-frame models; ``clip_vision`` optional) or ``template``
    (``template``: an API-format graph with the slot markers).  The run's ``seed`` and
    ``seed_mode`` complete the recipe.
    """

    kind: str = "preview"
    unet: str = ""
    unet_low: str = ""
    vae: str = ""
    clip: str = ""
    clip_vision: str = ""
    weight_dtype: str = "default"
    reference_image: str = ""                 # one image for every item
    segment_reference_images: list = field(default_factory=list)   # entry i (a path or null) for item i
    settings: dict = field(default_factory=dict)    # the Recipe's own keys (steps, cfg, phases, loras ...)

    def recipe(self, seed: int = 0, seed_policy: str = DEFAULT_SEED_POLICY) -> Recipe:
        return _parsed_recipe(json.dumps({**self.settings, "kind": self.kind, "seed": seed, "seed_policy": seed_policy},
                                         sort_keys=True, default=str))

    def files(self) -> ModelFiles:
        return ModelFiles(self.unet, self.unet_low, self.vae, self.clip, self.clip_vision, self.weight_dtype)

    @property
    def template(self) -> str:
        return str(self.settings.get("template", ""))

    def validate(self, items: int | None = None, what: str = "segments", check_files: bool = True) -> None:
        """``items``: the run's segments / transitions (per-item lists may not be longer)."""
        for name in FILE_KEYS + ("reference_image",):
            check_name(getattr(self, name), f"generator.{name}")
        recipe = self.recipe()
        needed = {"wan-vace": ("unet", "vae", "clip"), "wan-flf": ("unet", "vae", "clip")}.get(recipe.kind, ())
        if self.kind == "wan22-vace":
            needed += ("unet_low",)
        for name in needed:
            if not getattr(self, name):
                flag_name = "--" + name.replace("_", "-")
                raise PlanError(f"generator {self.kind} needs a model file name for {name}: pass {flag_name} "
                                f"(a file name as ComfyUI lists it, e.g. under models/)")
        if recipe.kind == "template" and not Path(self.template).is_file():
            raise PlanError(f"template {self.template!r} does not exist: check the path")
        if recipe.kind in WAN_KINDS:
            recipe.sampling(has_low=bool(self.unet_low))
        elif recipe.phases or recipe.loras or recipe.segment_loras:
            raise PlanError(f"generator.phases / loras / segment_loras apply to the wan generators (their samplers "
                            f"and models), not {self.kind}: remove them or use a wan generator")
        if not isinstance(self.segment_reference_images, list):
            raise PlanError(f"generator.segment_reference_images={brief(self.segment_reference_images)} must be a "
                            f"list with one image path (or null) per item")
        if self.reference_paths() and recipe.kind != "wan-vace":
            raise PlanError(f"reference images work with the wan-vace generators only (VACE's reference_image), "
                            f"not {self.kind}: remove reference_image / segment_reference_images")
        if items is not None:
            recipe.check_items(items, what)
            if len(self.segment_reference_images) > items:
                raise PlanError(f"generator.segment_reference_images has {len(self.segment_reference_images)} "
                                f"entries but there are only {items} {what}: give at most one per {what[:-1]}")
        for i, path in enumerate(self.segment_reference_images):
            if path is not None:
                check_name(path, f"generator.segment_reference_images[{i}]")
        if check_files:
            for i, path in enumerate(self.reference_paths()):
                check_file(path, f"reference image {i}", IMAGE_EXTENSIONS)

    def reference_paths(self) -> list[str]:
        """Every reference image file, run-level first (each once)."""
        paths = [self.reference_image] if self.reference_image else []
        return list(dict.fromkeys(paths + [p for p in self.segment_reference_images if p]))

    def reference_for(self, index: int) -> str:
        """Item ``index``'s reference image file ("" = none)."""
        if index < len(self.segment_reference_images) and self.segment_reference_images[index]:
            return str(self.segment_reference_images[index])
        return self.reference_image

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        data.update(self.settings)
        return data

    @classmethod
    def from_dict(cls, data: dict | str | None) -> "GeneratorConfig":
        if data is None:
            return cls()
        if isinstance(data, str):
            return cls.from_name(data)
        if not isinstance(data, dict):
            raise PlanError(f"generator={brief(data)} must be an object like {{\"kind\": \"preview\"}} or a "
                            f"generator name")
        misplaced = sorted({"seed", "seed_policy"} & set(data))
        if misplaced:
            raise PlanError(f"generator has {misplaced}: a plan's seed is its top-level \"seed\" and \"seed_mode\"")
        own = {k: v for k, v in data.items() if k in FILE_KEYS + REFERENCE_KEYS + ("kind",)}
        settings = {k: v for k, v in data.items() if k not in own}
        if not isinstance(own.get("kind", "preview"), str):
            raise PlanError(f"generator.kind={brief(own['kind'])} must be a generator name like \"preview\"")
        config = cls(**own, settings=settings)
        config.recipe()    # unknown keys and bad values are refused here
        return config

    @classmethod
    def from_name(cls, name: str, **options) -> "GeneratorConfig":
        """``preview`` / ``wan21-vace`` / ``wan22-vace`` / ``wan-flf`` or a path ending in ``.json``
        (template); ``options`` are file names and recipe settings (None = the default)."""
        options = {k: v for k, v in options.items() if v is not None}
        if name.lower().endswith(".json"):
            options["template"] = os.path.abspath(name)
            name = "template"
        return cls.from_dict({"kind": name, **options})


# --- travels --------------------------------------------------------------------------------------

@dataclass
class TravelRun:
    """A travel between keyframe images (one segment per consecutive pair)."""

    images: list[str]
    segment_frames: int | list[int] = 32
    overlap: int | list[int] = 8
    mode: str = "chained"
    exact_keyframes: bool = False
    loop: bool = False                # one more segment back to the first keyframe: a seamless loop
    prompts: str | list[str] = ""
    negative_prompts: str | list[str] = ""
    width: int = 0                    # generation size; 0 = the first image's (sizes.generation_size)
    height: int = 0
    fit: str = "crop"
    fps: float = 16.0                 # the delivered rate; segments are generated at 16 and retimed
    out_width: int = 0                # the delivered size; 0 = the generation size
    out_height: int = 0
    retime: str = "blend"             # 16 fps -> fps: blend neighbouring frames, or nearest
    soundtrack: str = ""              # a sound (or video) file under the travel, fitted to its length
    seed: int = 0                     # -1 = pick one now (then fixed in the manifest)
    seed_mode: str = DEFAULT_SEED_POLICY   # increment: seed + i; fixed: every segment the same seed (as the original)
    # Guide adjustments for the frames taken from the previous segment (chained mode): strength
    # blends them toward grey, desaturate toward greyscale, darken scales them (negative brightens).
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0
    # Stitch.
    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    run_id: str = ""
    output_dir: str = "segue_runs"    # run directories live in <output_dir>/<run_id>/
    out: str = ""                     # final video copied here too ("" = only the run directory)

    kind = "travel"

    @property
    def segment_count(self) -> int:
        """Segments of the plan: one per keyframe pair, one for a single image, one more for a loop."""
        return len(self.images) if self.loop else max(len(self.images) - 1, 1)

    def plan(self) -> TravelPlan:
        return plan_travel(len(self.images), int_or_list(self.segment_frames), int_or_list(self.overlap),
                           self.mode, self.exact_keyframes, loop=self.loop, output_fps=self.fps)

    def segment_prompts(self) -> list[str]:
        return broadcast_text(self.prompts, self.segment_count, "prompts")

    def segment_negative_prompts(self) -> list[str]:
        return broadcast_text(self.negative_prompts, self.segment_count, "negative_prompts")

    def segment_seed(self, index: int) -> int:
        return item_seeds(self.seed, index + 1, self.seed_mode)[index]

    def size(self) -> tuple[int, int] | None:
        """The generation size: ``width`` x ``height``, else the first image's (snapped to 16);
        None when the first image's header cannot be read."""
        if self.width:
            return wan_size(self.width, self.height)
        first = image_size(self.images[0]) if self.images else None
        return generation_size(*first) if first else None

    def validate(self, check_files: bool = True) -> TravelPlan:
        """Plan the run (raises ``PlanError`` naming the bad input) and return the frame plan."""
        if not isinstance(self.images, list):
            raise PlanError(f"images={brief(self.images)} must be a list of image paths")
        for i, path in enumerate(self.images):
            if check_files:
                check_file(path, f"image {i}", IMAGE_EXTENSIONS)
            else:
                check_name(path, f"images[{i}]", empty=False)
        check_choice(self.mode, MODES, "mode")
        flag(self.exact_keyframes, "exact_keyframes")
        flag(self.loop, "loop")
        plan = self.plan()
        self.segment_prompts()
        self.segment_negative_prompts()
        _common(self)
        _adjustments(self)
        check_fit(check_name(self.fit, "fit"), FIT_MODES)
        check_fps(self.fps, "fps")
        for name in ("width", "height"):
            whole(getattr(self, name), name, 0, 1_000_000)
        if (self.width or self.height) and not (self.width and self.height):
            raise PlanError(f"width={self.width}, height={self.height}: give both or neither (0 = the first image's size)")
        if self.width:
            self.width, self.height = wan_size(self.width, self.height)
        for name in ("out_width", "out_height"):
            whole(getattr(self, name), name, 0, 1_000_000)
        if bool(self.out_width) != bool(self.out_height):
            raise PlanError(f"out_width={self.out_width}, out_height={self.out_height}: give both or neither "
                            f"(0 = the generation size)")
        if self.out_width:   # the delivery holds a chunk of 16 delivered frames at a time
            check_frame_memory(self.out_width, self.out_height, 16, "delivered chunk", generated=False)
        check_choice(self.retime, RETIME_MODES, "retime")
        if self.soundtrack and check_files:
            check_file(self.soundtrack, "soundtrack", None)
        size = self.size() if check_files or self.width else None
        if size:
            check_frame_memory(*size, max(s.generate_frames for s in plan.segments), "segment")
        self.generator.validate(len(plan.segments), "segments", check_files)
        return plan

    def to_dict(self) -> dict:
        data = {"segue_plan": PLAN_VERSION, "kind": self.kind}
        data.update(asdict(self))
        data["generator"] = self.generator.to_dict()
        return data


# --- joins ----------------------------------------------------------------------------------------

@dataclass
class ClipRef:
    path: str
    name: str = ""

    def label(self, index: int) -> str:
        return f"clip {index} ({self.name or Path(self.path).name})"


@dataclass
class JoinRun:
    """Clips joined with generated transitions (one transition per consecutive pair)."""

    clips: list[ClipRef]
    context: int = 8
    gap: int = 53
    replace: bool = False
    blend: int | None = None          # None = cross-fade over the whole context
    prompt: str = "smooth transition"
    negative_prompt: str = ""
    per_join: list[dict] = field(default_factory=list)   # entry i overrides join i
    allow_shrink: bool = False
    bridging: bool = False
    loop: bool = False                # also join the last clip back to the first: a seamless loop
    aspect_ratio: str = ""            # "16:9": must match the clips (checked up front); "" = clip A's
    fps: float = 0.0                  # output rate; 0 = the first clip's frame rate
    width: int = 0                    # output size; 0 = the first clip's as displayed
    height: int = 0
    fit: str = "crop"                 # how clips of another shape are brought to the output size
    work_width: int = 0               # generation size; 0 = about 832x480 at the output's aspect
    work_height: int = 0
    seed: int = 0
    seed_mode: str = DEFAULT_SEED_POLICY
    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    keep_audio: bool = True
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    run_id: str = ""
    output_dir: str = "segue_runs"
    out: str = ""
    clip_frames: list[int] | None = None   # probed (at the output rate); stored so status/resume need not re-probe
    clip_fps: str | None = None            # probed: the first clip's rate, the output rate when fps is 0

    kind = "join"

    @property
    def join_count(self) -> int:
        return len(self.clips) if self.loop else len(self.clips) - 1

    def planner_per_join(self) -> list[dict]:
        """``per_join`` reduced to the planner's keys (seed-style names translated)."""
        if not isinstance(self.per_join, list):
            raise PlanError(f"per_join={brief(self.per_join)} must be a list of override objects, one per join")
        if len(self.per_join) > max(self.join_count, 0):
            raise PlanError(f"per_join has {len(self.per_join)} entries but {len(self.clips)} clips make "
                            f"{self.join_count} joins: give at most one override object per join")
        out = []
        for i, entry in enumerate(self.per_join):
            if not isinstance(entry, dict):
                raise PlanError(f"per_join_settings[{i}]={brief(entry)} must be an object of overrides")
            override = {}
            for key, value in entry.items():
                key = SEED_JOIN_KEYS.get(key, key)
                if key in JOIN_OVERRIDE_KEYS:
                    override[key] = value
                elif key not in JOIN_PROMPT_KEYS:
                    allowed = ", ".join(JOIN_OVERRIDE_KEYS + JOIN_PROMPT_KEYS)
                    raise PlanError(f"per_join_settings[{i}] has unknown key {key!r}: use only {allowed}")
            for key in ("prompt", "negative_prompt"):
                if key in entry:
                    check_text(entry[key], f"per_join[{i}].{key}")
            if "seed" in entry:
                whole(entry["seed"], f"per_join[{i}].seed", 0, 2 ** 63 - 1)
            out.append(override)
        return out

    def _check_blends(self) -> None:
        """A cross-fade lies inside the context: a longer blend is a mistake (the planner would cap it)."""
        requests = [("blend", self.blend, self.context, "context")]
        for i, entry in enumerate(self.per_join if isinstance(self.per_join, list) else []):
            if isinstance(entry, dict):
                entry = {SEED_JOIN_KEYS.get(k, k): v for k, v in entry.items()}
                requests.append((f"per_join[{i}].blend", entry.get("blend", self.blend), entry.get("context", self.context),
                                 f"per_join[{i}].context" if "context" in entry else "context"))
        for name, blend, context, context_name in requests:
            if blend is None or not isinstance(context, int) or isinstance(blend, bool) or not isinstance(blend, int):
                continue
            if blend > context:
                raise PlanError(f"{name}={blend} is longer than {context_name}={context}: the cross-fade lies inside "
                                f"the context, so use a blend of at most {context}")

    def join_prompt(self, index: int) -> tuple[str, str]:
        entry = self.per_join[index] if index < len(self.per_join) else {}
        return str(entry.get("prompt", self.prompt)), str(entry.get("negative_prompt", self.negative_prompt))

    def join_seed(self, index: int) -> int:
        entry = self.per_join[index] if index < len(self.per_join) else {}
        if "seed" in entry:
            return int(entry["seed"])
        return item_seeds(self.seed, index + 1, self.seed_mode)[index]

    def output_fps(self):
        """The output rate: ``fps``, else the first clip's (probed)."""
        if self.fps:
            return as_fps(self.fps, "fps")
        if self.clip_fps is None and self.clip_frames is None:
            self.probe()
        if self.clip_fps is None:        # counts given by the caller, not probed: taken at the generation rate
            return GENERATION_FPS
        return as_fps(self.clip_fps, "clip_fps")

    def output_size(self) -> tuple[int, int]:
        """The output size as the join nodes choose it (``conform.output_format``)."""
        width, height = (self.width, self.height) if self.width else self._size
        return even_size(width, height)

    def work_size(self) -> tuple[int, int]:
        if self.work_width:
            return wan_size(self.work_width, self.work_height)
        return working_size(*self.output_size())

    def probe(self) -> list[int]:
        """Frame counts of the clips at the output rate, as the join nodes conform them (PyAV, no
        decoding); stored in ``clip_frames`` (and the first clip's rate in ``clip_fps``)."""
        infos = []
        for i, clip in enumerate(self.clips):
            check_file(clip.path, clip.label(i), None)
            infos.append(probe_clip(clip.path, clip.label(i)))
        sizes = [(info.width, info.height) for info in infos]
        self.clip_fps = str(infos[0].fps)
        rate = self.output_fps()
        self.clip_frames = [conformed_frame_count(clip.path, rate) for clip in self.clips]
        self._size = sizes[0]
        if self.aspect_ratio and re.fullmatch(r"\d+:\d+", self.aspect_ratio) and not self.width:
            aw, ah = (int(v) for v in self.aspect_ratio.split(":"))
            width, height = sizes[0]
            if ah == 0 or aw == 0 or abs(width / height - aw / ah) > 0.01 * aw / ah:
                raise PlanError(f"aspect_ratio={self.aspect_ratio!r} differs from the first clip's {width}x{height}: "
                                f"give the output size it means (--size / width and height, fit crop) or leave "
                                f"aspect_ratio empty")
        return self.clip_frames

    def plan(self) -> JoinPlan:
        if self.clip_frames is None:
            self.probe()
        names = [c.label(i) for i, c in enumerate(self.clips)]
        blend = None if self.blend is None else whole(self.blend, "blend", 0, 10_000)
        return plan_join(self.clip_frames, self.context, self.gap, flag(self.replace, "replace"), blend,
                         self.planner_per_join(), flag(self.allow_shrink, "allow_shrink"), names,
                         loop=flag(self.loop, "loop"), generation_fps=GENERATION_FPS, output_fps=self.output_fps())

    def validate(self, check_files: bool = True) -> JoinPlan:
        if not isinstance(self.clips, list):
            raise PlanError(f"clips={brief(self.clips)} must be a list of clip paths")
        if len(self.clips) < (1 if self.loop else 2):
            raise PlanError(f"joining needs at least 2 clips (1 with loop), got {len(self.clips)}: add another clip")
        for name in ("bridging", "keep_audio"):
            flag(getattr(self, name), name)
        for name in ("prompt", "negative_prompt"):
            check_text(getattr(self, name), name)
        check_name(self.aspect_ratio, "aspect_ratio")
        if self.aspect_ratio and not re.fullmatch(r"[1-9]\d*:[1-9]\d*", self.aspect_ratio):
            raise PlanError(f"aspect_ratio={self.aspect_ratio!r} is not W:H: write it like 16:9")
        check_fps(self.fps, "fps", zero_ok=True)
        check_fit(check_name(self.fit, "fit"), CONFORM_FIT_MODES)
        for name in ("width", "height", "work_width", "work_height"):
            whole(getattr(self, name), name, 0, 1_000_000)
        for a, b in (("width", "height"), ("work_width", "work_height")):
            if bool(getattr(self, a)) != bool(getattr(self, b)):
                raise PlanError(f"{a}={getattr(self, a)}, {b}={getattr(self, b)}: give both or neither")
        self._check_blends()
        if check_files:
            self.probe()
        plan = self.plan()
        _common(self)
        if getattr(self, "_size", None) or self.width:
            check_frame_memory(*self.work_size(), max(j.generation_frames for j in plan.joins), "transition")
            check_frame_memory(*self.output_size(), max(j.transition_frames for j in plan.joins), "transition",
                               generated=False)
        self.generator.validate(len(plan.joins), "joins", check_files)
        return plan

    def to_dict(self) -> dict:
        data = {"segue_plan": PLAN_VERSION, "kind": self.kind}
        data.update(asdict(self))
        data["generator"] = self.generator.to_dict()
        return data


# --- extending a clip -----------------------------------------------------------------------------

@dataclass
class ExtendRun:
    """New frames after a clip's end, optionally landing on keyframe images (``keyframes``,
    the command line's ``--to``): ``video_utils.extend_plan``."""

    clip: ClipRef
    frames: int | list[int] = 48      # new frames: a total, or one per leg
    overlap: int = 8                  # the video's last frames each segment continues
    keyframes: list[str] = field(default_factory=list)
    max_generation: int = DEFAULT_MAX_GENERATION
    blend: int = 0
    prompts: str | list[str] = ""     # one for every segment, or one per segment
    negative_prompts: str | list[str] = ""
    seed: int = 0
    seed_mode: str = DEFAULT_SEED_POLICY
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0
    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    keep_audio: bool = True
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    run_id: str = ""
    output_dir: str = "segue_runs"
    out: str = ""
    clip_frames: int | None = None    # probed; stored so status/resume need not re-probe

    kind = "extend"

    @property
    def segment_count(self) -> int:
        return len(self.plan().segments)

    def probe(self) -> int:
        check_file(self.clip.path, "clip", None)
        info = probe_clip(self.clip.path, f"clip ({self.clip.name or Path(self.clip.path).name})")
        self.clip_frames = info.frame_count
        self._size = (info.width, info.height)
        return self.clip_frames

    def plan(self) -> ExtendPlan:
        if self.clip_frames is None:
            self.probe()
        return plan_extend(self.clip_frames, int_or_list(self.frames), self.overlap, len(self.keyframes),
                           self.max_generation, self.blend)

    def segment_prompts(self, count: int | None = None) -> list[str]:
        return broadcast_text(self.prompts, self.segment_count if count is None else count, "prompts")

    def segment_negative_prompts(self, count: int | None = None) -> list[str]:
        return broadcast_text(self.negative_prompts, self.segment_count if count is None else count,
                               "negative_prompts")

    def segment_seed(self, index: int) -> int:
        return item_seeds(self.seed, index + 1, self.seed_mode)[index]

    def validate(self, check_files: bool = True) -> ExtendPlan:
        if not isinstance(self.clip, ClipRef):
            raise PlanError(f"clip={brief(self.clip)} must be the path of the clip to extend")
        if not isinstance(self.keyframes, list):
            raise PlanError(f"keyframes={brief(self.keyframes)} must be a list of image paths (--to)")
        for i, path in enumerate(self.keyframes):
            if check_files:
                check_file(path, f"keyframe {i} (--to)", IMAGE_EXTENSIONS)
            else:
                check_name(path, f"keyframes[{i}]", empty=False)
        flag(self.keep_audio, "keep_audio")
        if check_files:
            self.probe()
        plan = self.plan()
        self.segment_prompts(len(plan.segments))
        self.segment_negative_prompts(len(plan.segments))
        _common(self)
        _adjustments(self)
        size = getattr(self, "_size", None)
        if size:
            check_frame_memory(*generation_size(*size), max(s.generate_frames for s in plan.segments), "segment")
        self.generator.validate(len(plan.segments), "segments", check_files)
        return plan

    def to_dict(self) -> dict:
        data = {"segue_plan": PLAN_VERSION, "kind": self.kind}
        data.update(asdict(self))
        data["generator"] = self.generator.to_dict()
        return data


Run = TravelRun | JoinRun | ExtendRun
RUN_CLASSES = {"travel": TravelRun, "join": JoinRun, "extend": ExtendRun}


# --- run ids and seeds --------------------------------------------------------------------------

def new_run_id(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(16 ** 4):04x}"


def finalize_run(run: Run) -> Run:
    """Fill what must be fixed before the first submission: a run id and a concrete seed."""
    if not run.run_id:
        run.run_id = new_run_id(run.kind)
    if run.seed == -1:
        run.seed = random.randrange(2 ** 31)
    return run


def run_inputs_paths(run: Run) -> list[tuple[str, str]]:
    """``(stem, path)`` of every file a run sends to a server, in the order its prompts name
    them: keyframes (travel) or clips (join), or the clip then the ``--to`` keyframes (extend),
    then the reference images, then a travel's soundtrack."""
    if isinstance(run, TravelRun):
        named = [(f"key_{i:03d}", p) for i, p in enumerate(run.images)]
    elif isinstance(run, JoinRun):
        named = [(f"clip_{i:03d}", c.path) for i, c in enumerate(run.clips)]
    else:
        named = [("clip_000", run.clip.path)] + [(f"key_{i:03d}", p) for i, p in enumerate(run.keyframes)]
    named += [(f"ref_{i:03d}", p) for i, p in enumerate(run.generator.reference_paths())]
    if isinstance(run, TravelRun) and run.soundtrack:
        named.append(("sound_000", run.soundtrack))
    return named
