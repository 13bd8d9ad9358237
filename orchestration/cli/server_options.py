"""Options of runs on ComfyUI servers: the servers and the runner's knobs, where a run lives
and how it starts, what generates (generator, model files, sampler, prompts, colour) and the
model files ``segue run`` / ``convert`` put into a plan that names none.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from ...video_utils.core.chains import ModelFiles
from ...video_utils.core.constants import COLOUR_MATCH_MODES, COLOUR_METHODS, DEFAULT_SEED_POLICY, SEED_POLICIES
from ...video_utils.core.recipe import finite, whole
from ..runs.generator import FILE_KEYS
from .options import Options

GENERATOR_HELP = ("preview (CPU, default), wan21-vace, wan22-vace, wan-flf (first-last-frame models), or an "
                  "API-format TEMPLATE.json")


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
class GenerationOptions(ModelFiles, Options):
    """What generates on the server (``travel``/``join`` with ``--server``): the generator, its
    model files (``ModelFiles``' fields: ``--unet`` ...), the sampler, prompts and colour."""

    generator: str = "preview"
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


@dataclass(frozen=True)
class ModelFileOptions(Options):
    """Model files for a plan that names none (a converted original payload): ``segue run`` /
    ``segue convert``.  ``files``: ``(name, file)`` of the ``--unet`` ... flags given (the rest
    keep the plan's)."""

    files: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("model files (override the plan's)")
        for name, text in (("unet", "diffusion model (wan22: high-noise expert)"), ("unet-low", "low-noise expert"),
                           ("vae", "VAE"), ("clip", "text encoder"), ("clip-vision", "CLIP vision model"),
                           ("weight-dtype", "UNETLoader weight_dtype")):
            g.add_argument(f"--{name}", default=None, help=f"{text} file as the server lists it")

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides) -> "ModelFileOptions":
        given = tuple((name, getattr(ns, name)) for name in FILE_KEYS if getattr(ns, name, None) is not None)
        return cls(**{"files": given, **overrides})

    def apply(self, generator) -> None:
        for name, value in self.files:
            setattr(generator, name, value)
