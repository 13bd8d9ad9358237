"""The ``segue`` command's options, parsed once into typed objects (one dataclass per family).

Each family declares its fields with their defaults and the command-line flags that set them
(``add_arguments``), and builds itself from argparse's namespace (``from_namespace``), so a
default is written in one place and the commands never read the namespace.  Python callers
(``commands.run_plan``) build the same objects directly.  A new setting = one field and one flag
in its family.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..video_utils.constants import (COLOUR_MATCH_MODES, COLOUR_METHODS, CURVES, DEFAULT_CRF, DEFAULT_CURVE,
                                     DEFAULT_PRESET, DEFAULT_PREVIEW_METHOD, DEFAULT_SEED_POLICY, PRESETS,
                                     PREVIEW_METHODS, SEED_POLICIES)
from ..video_utils.errors import PlanError
from ..video_utils.join_plan import JoinPlan, plan_join
from ..video_utils.lengths import DEFAULT_MAX_GENERATION
from ..video_utils.recipe import finite, whole
from ..video_utils.retime import RETIME_MODES
from ..video_utils.sizes import DEFAULT_FIT, FIT_MODES
from ..video_utils.travel_plan import MODES, TravelPlan, plan_travel

GENERATOR_HELP = ("preview (CPU, default), wan21-vace, wan22-vace, wan-flf (first-last-frame models), or an "
                  "API-format TEMPLATE.json")


class Options:
    """Shared by the families: the fields present in a parsed namespace, the rest defaulted."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each field's default (what the flags default to: written once, in the dataclass)."""
        out = {}
        for f in fields(cls):
            if f.default is not MISSING:
                out[f.name] = f.default
            elif f.default_factory is not MISSING:
                out[f.name] = f.default_factory()
        return out

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides: Any):
        values = {f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)}
        return cls(**{**values, **overrides})


def one_or_list(values):
    """``[x]`` -> ``x`` (one value for every segment/join), longer lists unchanged, ``None`` stays."""
    if values is None:
        return None
    values = list(values)
    return values[0] if len(values) == 1 else values


def json_or_file(text: str | None, flag: str, example: str) -> Any:
    """``--phases``: inline JSON, or the path of a JSON file."""
    if text is None:
        return None
    if not text.lstrip().startswith(("[", "{")):
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or "not UTF-8 text"
            raise PlanError(f"{flag} {str(path)!r} is neither JSON nor a readable JSON file ({reason}): "
                            f"give a file or inline JSON like {example}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"{flag} is not JSON (line {e.lineno}: {e.msg}): write it like {example}") from None


def parse_per_join(text: str | None) -> list[dict]:
    """``--per-join '[{}, {"gap": 21}]'``: a JSON list of override objects, one per join."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanError(f"--per-join {text!r} is not JSON ({e.msg}): write a list like '[{{}}, {{\"gap\": 21}}]'") from None
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise PlanError(f"--per-join {text!r} must be a JSON list of objects, one per join")
    return value


@dataclass(frozen=True)
class TravelPlanOptions(Options):
    frames: list[int] = field(default_factory=lambda: [32])
    overlap: list[int] = field(default_factory=lambda: [8])
    mode: str = "chained"
    exact_keyframes: bool = False
    loop: bool = False

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser, frames_required: bool = True) -> None:
        d = TravelPlanOptions.defaults()
        p.add_argument("--frames", type=int, nargs="+", required=frames_required, default=d["frames"], metavar="F",
                       help="frames between successive keyframes (segment_frames): one value for all segments or one per segment")
        p.add_argument("--overlap", type=int, nargs="+", default=d["overlap"], metavar="O",
                       help="frames cross-faded at each boundary: one value or one per boundary (default %(default)s)")
        p.add_argument("--mode", choices=MODES, default=d["mode"],
                       help="chained: each segment continues the previous one's last frames (sequential); "
                            "independent: each segment anchored on its own keyframes (parallel)")
        p.add_argument("--exact-keyframes", action="store_true",
                       help="flex each overlap by up to 2 frames so every keyframe lands exactly on its requested frame")
        p.add_argument("--loop", action="store_true",
                       help="a seamless loop: one more segment from the last keyframe back to the first")

    def plan(self, keyframes: int) -> TravelPlan:
        return plan_travel(keyframes, one_or_list(self.frames), one_or_list(self.overlap), self.mode,
                           self.exact_keyframes, loop=self.loop)


@dataclass(frozen=True)
class JoinPlanOptions(Options):
    context: int = 8
    gap: int = 53
    replace: bool = False
    blend: int | None = None
    per_join: list[dict] = field(default_factory=list)
    allow_shrink: bool = False
    loop: bool = False

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = JoinPlanOptions.defaults()
        p.add_argument("--context", type=int, default=d["context"], help="frames of each clip around a join kept as context (default %(default)s)")
        p.add_argument("--gap", type=int, default=d["gap"], help="frames generated between the contexts (default %(default)s; absorbs 4n+1 rounding)")
        p.add_argument("--replace", action="store_true",
                       help="replace mode: the gap replaces frames around the cut, total length unchanged (default: insert)")
        p.add_argument("--blend", type=int, default=d["blend"], help="frames cross-faded on each side (default: the whole context)")
        p.add_argument("--per-join", default=None, metavar="JSON",
                       help='per-join overrides as a JSON list, e.g. \'[{}, {"gap": 21, "replace": true}]\'')
        p.add_argument("--allow-shrink", action="store_true",
                       help="shrink context and gap of joins around a too-short clip instead of failing")
        p.add_argument("--loop", action="store_true",
                       help="a seamless loop: also join the last clip back to the first (one clip: to itself)")

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides: Any) -> "JoinPlanOptions":
        return super().from_namespace(ns, per_join=parse_per_join(ns.per_join), **overrides)

    def plan(self, lengths: list[int], names: list[str] | None = None) -> JoinPlan:
        return plan_join(lengths, self.context, self.gap, self.replace, self.blend, self.per_join or None,
                         self.allow_shrink, names, loop=self.loop)


@dataclass(frozen=True)
class ExtendPlanOptions(Options):
    """``segue extend CLIP``: new frames after the clip, optionally landing on ``--to`` images."""

    frames: list[int] = field(default_factory=lambda: [48])
    to: list[Path] = field(default_factory=list)
    overlap: int = 8
    max_generation: int = DEFAULT_MAX_GENERATION
    blend: int = 0

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = ExtendPlanOptions.defaults()
        p.add_argument("--frames", type=int, nargs="+", required=True, metavar="F",
                       help="new frames after the clip: one total, or one per --to image (plus an optional last "
                            "one for frames after the last image)")
        p.add_argument("--to", type=Path, nargs="+", default=d["to"], metavar="IMAGE",
                       help="images the extension lands on, in order (each leg ends exactly on its image)")
        p.add_argument("--overlap", type=int, default=d["overlap"], metavar="O",
                       help="the video's last frames each new segment continues (default %(default)s)")
        p.add_argument("--max-generation", type=int, default=d["max_generation"], metavar="N",
                       help="longest single generation, overlap included (default %(default)s); longer "
                            "extensions are split into several segments")
        p.add_argument("--blend", type=int, default=d["blend"],
                       help="frames before each segment cross-faded into its re-creation of them (default 0: the "
                            "clip is kept untouched)")


@dataclass(frozen=True)
class RenderOptions(Options):
    out: Path | None = None
    size: str | None = None
    fit: str = DEFAULT_FIT
    method: str = DEFAULT_PREVIEW_METHOD
    curve: str = DEFAULT_CURVE
    sharpen: float = 0.0
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = RenderOptions.defaults()
        p.add_argument("--out", required=True, type=Path, help="output .mp4 path")
        p.add_argument("--size", default=d["size"], metavar="WxH", help="output size, snapped to multiples of 16 (default: the first input's)")
        p.add_argument("--fit", choices=FIT_MODES, default=d["fit"],
                       help="how inputs of another shape are brought to the size: crop = centre-crop to the aspect then resize (default), stretch")
        p.add_argument("--method", choices=PREVIEW_METHODS, default=d["method"],
                       help="preview generator: flow = optical-flow morph, blend = cross-dissolve (default %(default)s)")
        p.add_argument("--curve", choices=CURVES, default=d["curve"], help="cross-fade curve (default %(default)s)")
        p.add_argument("--sharpen", type=float, default=d["sharpen"], help="sharpening inside cross-fades, 0..1 (default %(default)s)")
        p.add_argument("--crf", type=int, default=d["crf"], help="H.264 quality, lower is better (default %(default)s)")
        p.add_argument("--preset", choices=PRESETS, default=d["preset"], help="H.264 preset (default %(default)s)")


@dataclass(frozen=True)
class ConnectionOptions(Options):
    """The servers and the runner's knobs (every command that runs or resumes)."""

    servers: list[str] = field(default_factory=list)
    retries: int = 0
    server_timeout: float = 60.0
    window: int = 2
    no_progress: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", list(self.servers or []))   # argparse's append starts at None
        whole(self.retries, "--retries", 0, 100)
        whole(self.window, "--window", 1, 1000)
        finite(self.server_timeout, "--server-timeout", 0.1, 7 * 24 * 3600.0)

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        d = ConnectionOptions.defaults()
        g = parser.add_argument_group("ComfyUI servers")
        g.add_argument("--server", dest="servers", action="append", default=None, metavar="URL",
                       help="ComfyUI server (repeat for several; independent steps are spread over them)")
        g.add_argument("--retries", type=int, default=d["retries"], help="times a failed step is re-submitted (default %(default)s)")
        g.add_argument("--server-timeout", type=float, default=d["server_timeout"], metavar="S",
                       help="give up on a server unreachable or silent for this long (default %(default)s; exit 3, resume later)")
        g.add_argument("--window", type=int, default=d["window"], metavar="N",
                       help="prompts of this run queued per server at once (default %(default)s)")
        g.add_argument("--no-progress", action="store_true", help="no progress display")


@dataclass(frozen=True)
class RunOptions(Options):
    """Where a run lives and how it is started (``travel``/``join`` with ``--server``, ``run``)."""

    run_id: str = ""
    runs_dir: str | None = None
    out: Path | None = None
    detach: bool = False
    export_prompts: Path | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, runs_dir_default: str | None) -> None:
        d = RunOptions.defaults()
        parser.add_argument("--run-id", default=d["run_id"], help="run id (default: generated); an existing one resumes")
        parser.add_argument("--runs-dir", default=runs_dir_default, metavar="DIR",
                            help="where run directories <DIR>/<run_id>/ are kept" +
                                 (f" (default {runs_dir_default})" if runs_dir_default else " (default: the plan's output_dir)"))
        parser.add_argument("--detach", action="store_true",
                            help="submit the whole run as one prompt and exit; pick it up with segue status/resume RUN_DIR")
        parser.add_argument("--export-prompts", type=Path, default=d["export_prompts"], metavar="DIR",
                            help="write every step's API prompt to DIR/<step>.json (and DIR/detached.json) and "
                                 "submit nothing: no server is contacted")


@dataclass(frozen=True)
class GenerationOptions(Options):
    """What generates on the server (``travel``/``join`` with ``--server``)."""

    generator: str = "preview"
    unet: str = ""
    unet_low: str = ""
    vae: str = ""
    clip: str = ""
    clip_vision: str = ""
    weight_dtype: str = "default"
    steps: int = 20
    cfg: float = 5.0
    shift: float = 5.0
    split_step: int | None = None
    sampler: str = "uni_pc"
    scheduler: str = "simple"
    seed: int = 0
    seed_mode: str = DEFAULT_SEED_POLICY
    prompt: list[str] | None = None
    negative_prompt: list[str] | None = None
    phases: str | None = None                 # FILE.json or inline JSON: the recipe's sampler phases
    lora: list[str] | None = None             # NAME[:STRENGTH], on every model
    reference_image: str = ""
    colour_match: str = "none"
    colour_method: str = "lab"
    saturation: float = 1.0
    brightness: float = 0.0

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        d = GenerationOptions.defaults()
        g = parser.add_argument_group("generation")
        g.add_argument("--generator", default=d["generator"], metavar="NAME", help=GENERATOR_HELP)
        g.add_argument("--unet", default=d["unet"], help="diffusion model file (wan: the VACE model; wan22: high-noise expert)")
        g.add_argument("--unet-low", default=d["unet_low"], help="wan22-vace: low-noise expert model file")
        g.add_argument("--vae", default=d["vae"], help="VAE file (Wan 2.1 VAE)")
        g.add_argument("--clip", default=d["clip"], help="text encoder file (umT5)")
        g.add_argument("--clip-vision", default=d["clip_vision"], help="wan-flf: CLIP vision model file (optional)")
        g.add_argument("--weight-dtype", default=d["weight_dtype"], help="UNETLoader weight_dtype (default, fp8_e4m3fn, ...)")
        g.add_argument("--steps", type=int, default=d["steps"], help="sampler steps (default %(default)s)")
        g.add_argument("--cfg", type=float, default=d["cfg"], help="CFG scale (default %(default)s)")
        g.add_argument("--shift", type=float, default=d["shift"], help="ModelSamplingSD3 shift (default %(default)s)")
        g.add_argument("--split-step", type=int, default=d["split_step"], help="wan22-vace: step where the low-noise expert takes over (default steps/2)")
        g.add_argument("--sampler", default=d["sampler"], help="sampler name (default %(default)s)")
        g.add_argument("--scheduler", default=d["scheduler"], help="scheduler (default %(default)s)")
        g.add_argument("--seed", type=int, default=d["seed"], help="seed (-1 = random, fixed in the manifest; default %(default)s)")
        g.add_argument("--seed-mode", choices=SEED_POLICIES, default=d["seed_mode"],
                       help="increment: seed + step index; fixed: same seed for every step (default %(default)s)")
        g.add_argument("--prompt", action="append", default=d["prompt"], metavar="TEXT",
                       help="prompt; travel: repeat once per segment or give one for all")
        g.add_argument("--negative-prompt", action="append", default=d["negative_prompt"], metavar="TEXT", help="negative prompt")
        g.add_argument("--phases", default=d["phases"], metavar="FILE.json|JSON",
                       help='sampler phases, e.g. \'[{"model": "high", "end_step": 2, "cfg": 3}, {"model": "high", '
                            '"end_step": 4, "cfg": 1}, {"model": "low", "cfg": 1}]\' (each a KSamplerAdvanced)')
        g.add_argument("--lora", action="append", default=d["lora"], metavar="NAME[:STRENGTH]",
                       help="a LoRA file (models/loras) on every model; repeat for several (strength default 1)")
        g.add_argument("--reference-image", default=d["reference_image"], metavar="PATH",
                       help="wan-vace: VACE reference image for every segment / transition")
        g.add_argument("--colour-match", choices=COLOUR_MATCH_MODES, default=d["colour_match"],
                       help="match each step's colours to the frames it continues (previous) or the first keyframe")
        g.add_argument("--colour-method", choices=COLOUR_METHODS, default=d["colour_method"],
                       help="colour match in Lab or RGB (default %(default)s)")
        g.add_argument("--saturation", type=float, default=d["saturation"],
                       help="saturation of every step after the first (every transition), 0..4 (default 1)")
        g.add_argument("--brightness", type=float, default=d["brightness"],
                       help="brightness of every step after the first: pixels x (1 + B), -1..1 (default 0)")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segue travel`` / ``segue join`` for running through ComfyUI servers."""
    ConnectionOptions.add_arguments(parser)
    GenerationOptions.add_arguments(parser)
    RunOptions.add_arguments(parser, runs_dir_default="segue_runs")


# --- the commands' option objects ------------------------------------------------------------------

@dataclass(frozen=True)
class TravelDeliveryOptions(Options):
    """How a travel is delivered: rate, generation size, retiming, soundtrack (``--size`` is the
    delivered size, in RenderOptions)."""

    fps: float = 16.0
    work_size: str | None = None
    retime: str = "blend"
    soundtrack: Path | None = None

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        d = TravelDeliveryOptions.defaults()
        p.add_argument("--fps", type=float, default=d["fps"],
                       help="delivered frame rate (default %(default)s = Wan's own; others retime the 16 fps frames)")
        p.add_argument("--work-size", default=d["work_size"], metavar="WxH",
                       help="generation size, multiples of 16 (default: from --size or the first image, at most "
                            "about 832x480 pixels)")
        p.add_argument("--retime", choices=RETIME_MODES, default=d["retime"],
                       help="16 fps -> --fps: blend neighbouring frames (default) or nearest (repeat/drop)")
        p.add_argument("--soundtrack", type=Path, default=d["soundtrack"], metavar="FILE",
                       help="a sound or video file played under the travel (trimmed or padded to its length)")


@dataclass(frozen=True)
class TravelCommand:
    images: list[Path]
    plan: TravelPlanOptions
    render: RenderOptions
    delivery: TravelDeliveryOptions = TravelDeliveryOptions()
    connection: ConnectionOptions = ConnectionOptions()
    generation: GenerationOptions = GenerationOptions()
    run: RunOptions = RunOptions(runs_dir="segue_runs")


@dataclass(frozen=True)
class JoinCommand:
    clips: list[Path]
    plan: JoinPlanOptions
    render: RenderOptions
    bridging: bool = False
    no_audio: bool = False
    connection: ConnectionOptions = ConnectionOptions()
    generation: GenerationOptions = GenerationOptions()
    run: RunOptions = RunOptions(runs_dir="segue_runs")


@dataclass(frozen=True)
class ExtendCommand:
    clip: Path
    plan: ExtendPlanOptions
    render: RenderOptions
    no_audio: bool = False
    connection: ConnectionOptions = ConnectionOptions()
    generation: GenerationOptions = GenerationOptions()
    run: RunOptions = RunOptions(runs_dir="segue_runs")


@dataclass(frozen=True)
class RunDirCommand(Options):
    """``status`` / ``resume`` / ``cancel`` on an existing run directory (``status``: several,
    or a folder of them)."""

    run_dir: Path
    out: Path | None = None          # resume: also copy the final video here
    offline: bool = False            # status: do not ask the servers
    connection: ConnectionOptions = ConnectionOptions()
    more: tuple[Path, ...] = ()      # status: further run directories


@dataclass(frozen=True)
class ModelFileOptions(Options):
    """Model files for a plan that names none (a converted original payload): ``segue run`` /
    ``segue convert``; None keeps the plan's."""

    unet: str | None = None
    unet_low: str | None = None
    vae: str | None = None
    clip: str | None = None
    clip_vision: str | None = None
    weight_dtype: str | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("model files (override the plan's)")
        for name, text in (("unet", "diffusion model (wan22: high-noise expert)"), ("unet-low", "low-noise expert"),
                           ("vae", "VAE"), ("clip", "text encoder"), ("clip-vision", "CLIP vision model"),
                           ("weight-dtype", "UNETLoader weight_dtype")):
            g.add_argument(f"--{name}", default=None, help=f"{text} file as the server lists it")

    def apply(self, generator) -> None:
        for f in fields(self):
            if getattr(self, f.name) is not None:
                setattr(generator, f.name, getattr(self, f.name))


@dataclass(frozen=True)
class PlanFileCommand:
    """``segue run PLAN.json [PLAN ...]`` (several, a folder or a JSONL file: a batch)."""

    plan: Path
    run: RunOptions = RunOptions()
    connection: ConnectionOptions = ConnectionOptions()
    more: tuple[Path, ...] = ()
    models: ModelFileOptions = ModelFileOptions()


@dataclass(frozen=True)
class ConvertCommand:
    """``segue convert PAYLOAD.json --out PLAN.json``: an original payload as a plan file."""

    payload: Path
    out: Path
    models: ModelFileOptions = ModelFileOptions()


def travel_command(ns: argparse.Namespace) -> TravelCommand:
    return TravelCommand(ns.images, TravelPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns),
                         TravelDeliveryOptions.from_namespace(ns), ConnectionOptions.from_namespace(ns),
                         GenerationOptions.from_namespace(ns), RunOptions.from_namespace(ns))


def join_command(ns: argparse.Namespace) -> JoinCommand:
    return JoinCommand(ns.clips, JoinPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns), ns.bridging,
                       ns.no_audio, ConnectionOptions.from_namespace(ns), GenerationOptions.from_namespace(ns),
                       RunOptions.from_namespace(ns))


def extend_command(ns: argparse.Namespace) -> ExtendCommand:
    return ExtendCommand(ns.clip_path, ExtendPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns), ns.no_audio,
                         ConnectionOptions.from_namespace(ns), GenerationOptions.from_namespace(ns),
                         RunOptions.from_namespace(ns))


def run_dir_command(ns: argparse.Namespace) -> RunDirCommand:
    dirs = list(getattr(ns, "run_dirs", None) or [ns.run_dir])
    return RunDirCommand.from_namespace(ns, run_dir=dirs[0], more=tuple(dirs[1:]),
                                        connection=ConnectionOptions.from_namespace(ns))


def plan_file_command(ns: argparse.Namespace) -> PlanFileCommand:
    return PlanFileCommand(ns.plans[0], RunOptions.from_namespace(ns), ConnectionOptions.from_namespace(ns),
                           tuple(ns.plans[1:]), ModelFileOptions.from_namespace(ns))


def convert_command(ns: argparse.Namespace) -> ConvertCommand:
    return ConvertCommand(ns.payload, ns.out, ModelFileOptions.from_namespace(ns))
