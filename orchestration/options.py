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

from ..video_utils.constants import (CURVES, DEFAULT_CRF, DEFAULT_CURVE, DEFAULT_PRESET, DEFAULT_PREVIEW_METHOD,
                                     DEFAULT_SEED_POLICY, PRESETS, PREVIEW_METHODS, SEED_POLICIES)
from ..video_utils.errors import PlanError
from ..video_utils.join_plan import JoinPlan, plan_join
from ..video_utils.sizes import DEFAULT_FIT, FIT_MODES
from ..video_utils.travel_plan import MODES, TravelPlan, plan_travel

GENERATOR_HELP = "preview (CPU, default), wan21-vace, wan22-vace, or an API-format TEMPLATE.json"


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

    def plan(self, keyframes: int) -> TravelPlan:
        return plan_travel(keyframes, one_or_list(self.frames), one_or_list(self.overlap), self.mode,
                           self.exact_keyframes)


@dataclass(frozen=True)
class JoinPlanOptions(Options):
    context: int = 8
    gap: int = 53
    replace: bool = False
    blend: int | None = None
    per_join: list[dict] = field(default_factory=list)
    allow_shrink: bool = False

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

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides: Any) -> "JoinPlanOptions":
        return super().from_namespace(ns, per_join=parse_per_join(ns.per_join), **overrides)

    def plan(self, lengths: list[int], names: list[str] | None = None) -> JoinPlan:
        return plan_join(lengths, self.context, self.gap, self.replace, self.blend, self.per_join or None,
                         self.allow_shrink, names)


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

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, runs_dir_default: str | None) -> None:
        d = RunOptions.defaults()
        parser.add_argument("--run-id", default=d["run_id"], help="run id (default: generated); an existing one resumes")
        parser.add_argument("--runs-dir", default=runs_dir_default, metavar="DIR",
                            help="where run directories <DIR>/<run_id>/ are kept" +
                                 (f" (default {runs_dir_default})" if runs_dir_default else " (default: the plan's output_dir)"))
        parser.add_argument("--detach", action="store_true",
                            help="submit the whole run as one prompt and exit; pick it up with segue status/resume RUN_DIR")


@dataclass(frozen=True)
class GenerationOptions(Options):
    """What generates on the server (``travel``/``join`` with ``--server``)."""

    generator: str = "preview"
    unet: str = ""
    unet_low: str = ""
    vae: str = ""
    clip: str = ""
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

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        d = GenerationOptions.defaults()
        g = parser.add_argument_group("generation on the server")
        g.add_argument("--generator", default=d["generator"], metavar="NAME", help=GENERATOR_HELP)
        g.add_argument("--unet", default=d["unet"], help="diffusion model file (wan: the VACE model; wan22: high-noise expert)")
        g.add_argument("--unet-low", default=d["unet_low"], help="wan22-vace: low-noise expert model file")
        g.add_argument("--vae", default=d["vae"], help="VAE file (Wan 2.1 VAE)")
        g.add_argument("--clip", default=d["clip"], help="text encoder file (umT5)")
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


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``segue travel`` / ``segue join`` for running through ComfyUI servers."""
    ConnectionOptions.add_arguments(parser)
    GenerationOptions.add_arguments(parser)
    RunOptions.add_arguments(parser, runs_dir_default="segue_runs")


# --- the commands' option objects ------------------------------------------------------------------

@dataclass(frozen=True)
class TravelCommand:
    images: list[Path]
    plan: TravelPlanOptions
    render: RenderOptions
    fps: float = 16.0
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
class RunDirCommand(Options):
    """``status`` / ``resume`` / ``cancel`` on an existing run directory."""

    run_dir: Path
    out: Path | None = None          # resume: also copy the final video here
    offline: bool = False            # status: do not ask the servers
    connection: ConnectionOptions = ConnectionOptions()


@dataclass(frozen=True)
class PlanFileCommand:
    """``segue run PLAN.json``."""

    plan: Path
    run: RunOptions = RunOptions()
    connection: ConnectionOptions = ConnectionOptions()


def travel_command(ns: argparse.Namespace) -> TravelCommand:
    return TravelCommand(ns.images, TravelPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns), ns.fps,
                         ConnectionOptions.from_namespace(ns), GenerationOptions.from_namespace(ns),
                         RunOptions.from_namespace(ns))


def join_command(ns: argparse.Namespace) -> JoinCommand:
    return JoinCommand(ns.clips, JoinPlanOptions.from_namespace(ns), RenderOptions.from_namespace(ns), ns.bridging,
                       ns.no_audio, ConnectionOptions.from_namespace(ns), GenerationOptions.from_namespace(ns),
                       RunOptions.from_namespace(ns))


def run_dir_command(ns: argparse.Namespace) -> RunDirCommand:
    return RunDirCommand.from_namespace(ns, connection=ConnectionOptions.from_namespace(ns))


def plan_file_command(ns: argparse.Namespace) -> PlanFileCommand:
    return PlanFileCommand(ns.plan, RunOptions.from_namespace(ns), ConnectionOptions.from_namespace(ns))
