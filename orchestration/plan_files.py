"""Travel and join runs as plan files (JSON) and Python objects, validated up front.

A *run* is everything a ``/prompt`` orchestration needs: the inputs (keyframe images or clips),
the frame settings, the prompts, the seed policy, the generator (model file names), the colour
and guide adjustments and the output.  It carries what the original queue orchestrator's
``orchestrator_details`` payloads carried (``from_orchestrator_payload`` converts those).

Frame arithmetic is never done here: ``validate()`` calls the same planners the nodes use
(``video_utils.travel_plan`` / ``join_plan``), so a plan that validates here is the plan the server
executes.  Join plans need the clips' frame counts; they are probed with PyAV (no torch), and the
planner's error names the clip that is too short.

Plan file format (``"segue_plan": 1``)::

    {"segue_plan": 1, "kind": "travel", "run_id": "sunset", "images": ["a.png", "b.png"],
     "prompts": "a slow pan", "segment_frames": 32, "overlap": 8, "generator": {"kind": "preview"}}

Relative paths in a plan file (inputs, template, output_dir, out) are relative to the file's folder.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from ..video_utils.chains import ModelFiles
from ..video_utils.constants import (CURVES, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_PRESET, DEFAULT_SEED_POLICY,
                                     IMAGE_EXTENSIONS, PRESETS, SEED_POLICIES)
from ..video_utils.errors import PlanError
from ..video_utils.recipe import Recipe, item_seeds
from ..video_utils.join_plan import JOIN_OVERRIDE_KEYS, JoinPlan, plan_join
from ..video_utils.sizes import FIT_MODES, check_fit, wan_size
from ..video_utils.travel_plan import MODES, TravelPlan, plan_travel

PLAN_VERSION = 1
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
# Per-join override keys: the planner's own plus the ones only the prompt graph uses.
JOIN_PROMPT_KEYS = ("prompt", "negative_prompt", "seed")
# The original orchestrator's names for the same settings (accepted in per_join_settings).
SEED_JOIN_KEYS = {"context_frame_count": "context", "gap_frame_count": "gap",
                  "replace_mode": "replace", "blend_frames": "blend"}


FILE_KEYS = ("unet", "unet_low", "vae", "clip", "clip_vision", "weight_dtype")
REFERENCE_KEYS = ("reference_image", "segment_reference_images")


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
        return Recipe.from_dict({**self.settings, "kind": self.kind, "seed": int(seed), "seed_policy": seed_policy},
                                "generator")

    def files(self) -> ModelFiles:
        return ModelFiles(self.unet, self.unet_low, self.vae, self.clip, self.clip_vision, self.weight_dtype)

    @property
    def template(self) -> str:
        return str(self.settings.get("template", ""))

    def validate(self) -> None:
        recipe = self.recipe()
        needed = {"wan-vace": ("unet", "vae", "clip"), "wan-flf": ("unet", "vae", "clip")}.get(recipe.kind, ())
        if self.kind == "wan22-vace":
            needed += ("unet_low",)
        for name in needed:
            if not getattr(self, name):
                flag = "--" + name.replace("_", "-")
                raise PlanError(f"generator {self.kind} needs a model file name for {name}: pass {flag} "
                                f"(a file name as ComfyUI lists it, e.g. under models/)")
        if recipe.kind == "template" and not Path(self.template).is_file():
            raise PlanError(f"template {self.template!r} does not exist: check the path")
        if recipe.kind in ("wan-vace", "wan-flf"):
            recipe.sampling(has_low=bool(self.unet_low))
        if self.reference_paths() and recipe.kind != "wan-vace":
            raise PlanError(f"reference images work with the wan-vace generators only (VACE's reference_image), "
                            f"not {self.kind}: remove reference_image / segment_reference_images")
        for i, path in enumerate(self.reference_paths()):
            _check_file(path, f"reference image {i}", IMAGE_EXTENSIONS)

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
            raise PlanError(f"generator={data!r} must be an object like {{\"kind\": \"preview\"}} or a generator name")
        misplaced = sorted({"seed", "seed_policy"} & set(data))
        if misplaced:
            raise PlanError(f"generator has {misplaced}: a plan's seed is its top-level \"seed\" and \"seed_mode\"")
        own = {k: v for k, v in data.items() if k in FILE_KEYS + REFERENCE_KEYS + ("kind",)}
        settings = {k: v for k, v in data.items() if k not in own}
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
    width: int = 0                    # 0 = first image's size snapped to 16
    height: int = 0
    fit: str = "crop"
    fps: float = 16.0
    seed: int = 0                     # -1 = pick one now (then fixed in the manifest)
    seed_mode: str = DEFAULT_SEED_POLICY   # increment: seed + i; fixed: every segment the same seed (as the original)
    # Guide adjustments for the frames taken from the previous segment (chained mode): strength
    # blends them toward grey, desaturate toward greyscale, darken scales them (negative brightens).
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0
    # Stitch.
    curve: str = "cosine"
    sharpen: float = 0.0
    crf: int = 19
    preset: str = "medium"
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
        return plan_travel(len(self.images), _int_or_list(self.segment_frames), _int_or_list(self.overlap),
                           self.mode, self.exact_keyframes, loop=self.loop)

    def segment_prompts(self) -> list[str]:
        return _broadcast_text(self.prompts, self.segment_count, "prompts")

    def segment_negative_prompts(self) -> list[str]:
        return _broadcast_text(self.negative_prompts, self.segment_count, "negative_prompts")

    def segment_seed(self, index: int) -> int:
        return item_seeds(self.seed, index + 1, self.seed_mode)[index]

    def validate(self, check_files: bool = True) -> TravelPlan:
        """Plan the run (raises ``PlanError`` naming the bad input) and return the frame plan."""
        if not isinstance(self.images, list):
            raise PlanError(f"images={self.images!r} must be a list of image paths")
        if check_files:
            for i, path in enumerate(self.images):
                _check_file(path, f"image {i}", IMAGE_EXTENSIONS)
        plan = self.plan()
        self.segment_prompts()
        self.segment_negative_prompts()
        if self.mode not in MODES:  # pragma: no cover - plan_travel checks it first
            raise PlanError(f"mode={self.mode!r}")
        if self.seed_mode not in SEED_POLICIES:
            raise PlanError(f"seed_mode={self.seed_mode!r}: use one of {', '.join(SEED_POLICIES)}")
        _check_common(self)
        for name, low in (("strength", 0.0), ("desaturate", 0.0), ("darken", -1.0)):
            value = getattr(self, name)
            if not low <= float(value) <= 1.0:
                raise PlanError(f"{name}={value} must be between {low:g} and 1")
        self.generator.validate()
        return plan

    def to_dict(self) -> dict:
        data = {"segue_plan": PLAN_VERSION, "kind": self.kind}
        data.update(asdict(self))
        data["generator"] = self.generator.to_dict()
        return data


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
    fps: float = 0.0                  # 0 = the first clip's frame rate
    seed: int = 0
    seed_mode: str = DEFAULT_SEED_POLICY
    curve: str = "cosine"
    sharpen: float = 0.0
    crf: int = 19
    preset: str = "medium"
    keep_audio: bool = True
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    run_id: str = ""
    output_dir: str = "segue_runs"
    out: str = ""
    clip_frames: list[int] | None = None   # probed; stored so status/resume need not re-probe

    kind = "join"

    @property
    def join_count(self) -> int:
        return len(self.clips) if self.loop else len(self.clips) - 1

    def planner_per_join(self) -> list[dict]:
        """``per_join`` reduced to the planner's keys (seed-style names translated)."""
        out = []
        for i, entry in enumerate(self.per_join):
            if not isinstance(entry, dict):
                raise PlanError(f"per_join_settings[{i}]={entry!r} must be an object of overrides")
            override = {}
            for key, value in entry.items():
                key = SEED_JOIN_KEYS.get(key, key)
                if key in JOIN_OVERRIDE_KEYS:
                    override[key] = value
                elif key not in JOIN_PROMPT_KEYS:
                    allowed = ", ".join(JOIN_OVERRIDE_KEYS + JOIN_PROMPT_KEYS)
                    raise PlanError(f"per_join_settings[{i}] has unknown key {key!r}: use only {allowed}")
            out.append(override)
        return out

    def join_prompt(self, index: int) -> tuple[str, str]:
        entry = self.per_join[index] if index < len(self.per_join) else {}
        return str(entry.get("prompt", self.prompt)), str(entry.get("negative_prompt", self.negative_prompt))

    def join_seed(self, index: int) -> int:
        entry = self.per_join[index] if index < len(self.per_join) else {}
        if "seed" in entry:
            return int(entry["seed"])
        return item_seeds(self.seed, index + 1, self.seed_mode)[index]

    def probe(self) -> list[int]:
        """Frame counts of the clips (PyAV, no decoding); stored in ``clip_frames``.

        The server-side join reads the clips as they are, so they must share one frame size
        (the local ``segue join`` conforms them; through a server, conform them first).
        """
        counts, sizes = [], []
        for i, clip in enumerate(self.clips):
            _check_file(clip.path, clip.label(i), None)
            frames, width, height = probe_video_file(clip.path, clip.label(i))
            counts.append(frames)
            sizes.append((width, height))
        for i, size in enumerate(sizes[1:], 1):
            if size != sizes[0]:
                raise PlanError(f"{self.clips[i].label(i)} is {size[0]}x{size[1]} but {self.clips[0].label(0)} is "
                                f"{sizes[0][0]}x{sizes[0][1]}: joining through a server needs clips of one size "
                                f"(resize them first, or join locally without --server)")
        if self.aspect_ratio and re.fullmatch(r"\d+:\d+", self.aspect_ratio):
            aw, ah = (int(v) for v in self.aspect_ratio.split(":"))
            width, height = sizes[0]
            if ah == 0 or abs(width / height - aw / ah) > 0.01 * aw / ah:
                raise PlanError(f"aspect_ratio={self.aspect_ratio!r} differs from the clips' {width}x{height}: the server "
                                f"path does not crop yet, so crop the clips to {self.aspect_ratio} first or leave "
                                f"aspect_ratio empty")
        self.clip_frames = counts
        return counts

    def plan(self) -> JoinPlan:
        if self.clip_frames is None:
            self.probe()
        names = [c.label(i) for i, c in enumerate(self.clips)]
        return plan_join(self.clip_frames, self.context, self.gap, self.replace, self.blend,
                         self.planner_per_join(), self.allow_shrink, names, loop=self.loop)

    def validate(self, check_files: bool = True) -> JoinPlan:
        if len(self.clips) < (1 if self.loop else 2):
            raise PlanError(f"joining needs at least 2 clips (1 with loop), got {len(self.clips)}: add another clip")
        if check_files:
            self.probe()
        plan = self.plan()
        if self.seed_mode not in SEED_POLICIES:
            raise PlanError(f"seed_mode={self.seed_mode!r}: use one of {', '.join(SEED_POLICIES)}")
        if self.aspect_ratio and not re.fullmatch(r"\d+:\d+", self.aspect_ratio):
            raise PlanError(f"aspect_ratio={self.aspect_ratio!r} is not W:H: write it like 16:9")
        if self.fps < 0:
            raise PlanError(f"fps={self.fps} must be positive (0 = the first clip's)")
        _check_common(self)
        self.generator.validate()
        return plan

    def to_dict(self) -> dict:
        data = {"segue_plan": PLAN_VERSION, "kind": self.kind}
        data.update(asdict(self))
        data["generator"] = self.generator.to_dict()
        return data


Run = TravelRun | JoinRun


# --- JSON -------------------------------------------------------------------------------------

def run_from_dict(data: dict, base_dir: str | os.PathLike | None = None) -> Run:
    """A run from its JSON object; relative input paths are resolved against ``base_dir``."""
    if not isinstance(data, dict):
        raise PlanError("a plan file must hold a JSON object")
    version = data.get("segue_plan", PLAN_VERSION)
    if version != PLAN_VERSION:
        raise PlanError(f"segue_plan={version!r} is not a plan version this Segue reads (expected {PLAN_VERSION})")
    kind = data.get("kind")
    body = {k: v for k, v in data.items() if k not in ("segue_plan", "kind")}
    body["generator"] = GeneratorConfig.from_dict(body.get("generator"))
    base = Path(base_dir) if base_dir is not None else None
    if kind == "travel":
        run = TravelRun(**_known(TravelRun, body, "travel plan"))
        run.images = [_resolve(p, base) for p in _list_of_str(run.images, "images")]
    elif kind == "join":
        clips = body.get("clips") or []
        if not isinstance(clips, list):
            raise PlanError("clips must be a list of {\"path\", \"name\"} objects or paths")
        body["clips"] = [_clip_ref(c, i, base) for i, c in enumerate(clips)]
        run = JoinRun(**_known(JoinRun, body, "join plan"))
    else:
        raise PlanError(f"kind={kind!r}: a plan file's kind is \"travel\" or \"join\"")
    if base is not None:
        if run.generator.kind == "template":
            run.generator.settings["template"] = _resolve(run.generator.template, base)
        run.output_dir = _resolve(run.output_dir, base)
        if run.out:
            run.out = _resolve(run.out, base)
    return run


def load_plan(path: str | os.PathLike) -> Run:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PlanError(f"plan file {str(path)!r} cannot be read ({e.strerror}): check the path") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"plan file {str(path)!r} is not JSON (line {e.lineno}: {e.msg})") from None
    return run_from_dict(data, path.resolve().parent)


def save_plan(run: Run, path: str | os.PathLike) -> None:
    atomic_write_text(Path(path), json.dumps(run.to_dict(), indent=2) + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def from_orchestrator_payload(payload: dict, kind: str, base_dir: str | os.PathLike | None = None) -> Run:
    """Convert the original system's ``orchestrator_details`` into a run.

    travel: ``input_image_paths_resolved``, ``base_prompts_expanded``, ``negative_prompts_expanded``,
    ``segment_frames_expanded``, ``frame_overlap_expanded``, ``parsed_resolution_wh``,
    ``chain_segments``, ``seed_base``, ``fps_helpers``, the overlap guide adjustments;
    join: ``clip_list`` (url/path + name), ``context_frame_count``, ``gap_frame_count``,
    ``replace_mode``, ``blend_frames``, ``prompt``, ``negative_prompt``, ``per_join_settings``,
    ``aspect_ratio``, ``fps``, ``seed``, ``run_id``, ``output_base_dir``.
    """
    p = payload.get("orchestrator_details", payload)
    if kind == "travel":
        data: dict[str, Any] = {"kind": "travel", "images": p.get("input_image_paths_resolved", [])}
        if "base_prompts_expanded" in p:
            data["prompts"] = [s or p.get("base_prompt", "") for s in p["base_prompts_expanded"]]
        elif "base_prompt" in p:
            data["prompts"] = p["base_prompt"]
        if "negative_prompts_expanded" in p:
            data["negative_prompts"] = p["negative_prompts_expanded"]
        if "segment_frames_expanded" in p:
            data["segment_frames"] = list(p["segment_frames_expanded"])
        if "frame_overlap_expanded" in p:
            overlap = p["frame_overlap_expanded"]
            n_boundaries = max(len(data["images"]) - 2, 1)
            data["overlap"] = overlap if isinstance(overlap, int) else list(overlap)[:n_boundaries]
        if "parsed_resolution_wh" in p:
            w, h = (int(v) for v in str(p["parsed_resolution_wh"]).lower().split("x"))
            data["width"], data["height"] = w, h
        if "chain_segments" in p:
            data["mode"] = "chained" if p["chain_segments"] else "independent"
        elif "independent_segments" in p:
            data["mode"] = "independent" if p["independent_segments"] else "chained"
        for src, dst in (("seed_base", "seed"), ("fps_helpers", "fps"), ("run_id", "run_id"),
                         ("desaturate_subsequent_starting_frames", "desaturate"),
                         ("adjust_brightness_subsequent_starting_frames", "darken"),
                         ("crossfade_sharp_amt", "sharpen"), ("main_output_dir_for_run", "output_dir")):
            if p.get(src) is not None:
                data[dst] = p[src]
        if "subsequent_starting_strength_adjustment" in p:
            data["strength"] = min(max(1.0 + float(p["subsequent_starting_strength_adjustment"]), 0.0), 1.0)
    elif kind == "join":
        data = {"kind": "join", "clips": [{"path": c.get("path") or c.get("url"), "name": c.get("name", "")}
                                          for c in p.get("clip_list", [])]}
        for src, dst in (("context_frame_count", "context"), ("gap_frame_count", "gap"),
                         ("replace_mode", "replace"), ("blend_frames", "blend"), ("prompt", "prompt"),
                         ("negative_prompt", "negative_prompt"), ("per_join_settings", "per_join"),
                         ("aspect_ratio", "aspect_ratio"), ("fps", "fps"), ("seed", "seed"),
                         ("run_id", "run_id"), ("output_base_dir", "output_dir"),
                         ("keep_bridging_images", "bridging")):
            if p.get(src) is not None:
                data[dst] = p[src]
    else:
        raise PlanError(f"kind={kind!r}: use travel or join")
    return run_from_dict(data, base_dir)


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


# --- probing ------------------------------------------------------------------------------------

def probe_video_file(path: str | os.PathLike, label: str = "clip") -> tuple[int, int, int]:
    """``(frames, width, height)`` of a video's first video stream, without decoding pictures.

    PyAV, no torch.  Uses the container's frame count when it has one (MP4), else counts packets
    (Matroska/WebM keep no count); one packet holds one frame for the codecs Segue reads and writes.
    """
    import av  # PyAV is a dependency of the pack; imported here so planning-only users skip it

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise PlanError(f"{label} {str(path)!r} has no video stream: give a video file")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            frames = int(stream.frames) or sum(1 for packet in container.demux(stream) if packet.size)
            return frames, width, height
    except av.error.FFmpegError as e:
        raise PlanError(f"{label} {str(path)!r} cannot be read as a video ({e}): check the file") from None


def probe_frame_count(path: str | os.PathLike, label: str = "clip") -> int:
    return probe_video_file(path, label)[0]


# --- helpers ------------------------------------------------------------------------------------

def _check_common(run: Run) -> None:
    if run.run_id and not RUN_ID_PATTERN.match(run.run_id):
        raise PlanError(f"run_id={run.run_id!r} may only hold letters, digits, '.', '_' and '-' "
                        f"(at most 80, not starting with '.' or '-')")
    if getattr(run, "fit", "crop") not in FIT_MODES:
        check_fit(run.fit)
    if run.curve not in CURVES:
        raise PlanError(f"curve={run.curve!r}: use one of {', '.join(CURVES)}")
    if run.preset not in PRESETS:
        raise PlanError(f"preset={run.preset!r} is not an x264 preset: use one of {', '.join(PRESETS)}")
    if not 0 <= int(run.crf) <= 51:
        raise PlanError(f"crf={run.crf} must be between 0 and 51 (lower = better quality)")
    if isinstance(run, TravelRun):
        if run.fps <= 0:
            raise PlanError(f"fps={run.fps} must be positive")
        if (run.width or run.height) and not (run.width and run.height):
            raise PlanError(f"width={run.width}, height={run.height}: give both or neither (0 = the first image's size)")
        if run.width:
            run.width, run.height = wan_size(run.width, run.height)
    if not isinstance(run.seed, int) or run.seed < -1 or run.seed >= 2 ** 63:
        raise PlanError(f"seed={run.seed!r} must be a whole number >= 0 (or -1 for a random one)")


def _check_file(path: str, label: str, extensions: Sequence[str] | None) -> None:
    p = Path(path)
    if not p.is_file():
        raise PlanError(f"{label} {str(path)!r} does not exist: check the path")
    if extensions and p.suffix.lower() not in extensions:
        raise PlanError(f"{label} {str(path)!r} is not an image ({', '.join(extensions)}): give an image file")


def _broadcast_text(value: str | list[str], count: int, name: str) -> list[str]:
    if isinstance(value, str):
        return [value] * count
    items = [str(v) for v in value]
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise PlanError(f"{name} has {len(items)} entries but there are {count} segments: "
                        f"give one (used for all) or exactly {count}")
    return items


def _int_or_list(value):
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _known(cls, data: dict, what: str) -> dict:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise PlanError(f"{what} has unknown keys {unknown}: known keys are {', '.join(sorted(names))}")
    return dict(data)


def _list_of_str(value, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, os.PathLike)) for v in value):
        raise PlanError(f"{name} must be a list of paths")
    return [str(v) for v in value]


def _resolve(path: str, base: Path | None) -> str:
    p = Path(os.path.expanduser(str(path)))
    if base is not None and not p.is_absolute():
        p = base / p
    return str(p)


def _clip_ref(value, index: int, base: Path | None) -> ClipRef:
    if isinstance(value, (str, os.PathLike)):
        return ClipRef(_resolve(str(value), base), Path(str(value)).stem)
    if isinstance(value, dict) and (value.get("path") or value.get("url")):
        return ClipRef(_resolve(str(value.get("path") or value.get("url")), base), str(value.get("name", "")))
    raise PlanError(f"clips[{index}]={value!r} must be a path or an object with \"path\" (and optional \"name\")")
