"""The ``segue`` command's flags, declared once per family, with their defaults taken from the
objects they fill (the run models, the recipe, the connection options): a default is written in
one place, the dataclass field, and the help text shows it.

The flags are only declarations: ``build`` turns a parsed namespace straight into the run
(``TravelRun`` / ``JoinRun`` / ``ExtendRun``) that the planners, the local renderer and the
servers all start from.  A new setting = one field on its run (or recipe) and one flag here.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from ...video_utils.core.constants import (COLOUR_MATCH_MODES, COLOUR_METHODS, CONFORM_FIT_MODES, CURVES, DEFAULT_FIT,
                                           GAP_AUDIO_MODES, MAX_SHARPEN, PRESETS, PREVIEW_METHODS, RETIME_MODES,
                                           SEED_POLICIES, TRAVEL_MODES)
from ...video_utils.core.errors import PlanError
from ...video_utils.core.recipe import Recipe
from ..runs.extend import ExtendRun
from ..runs.generator import FILE_KEYS
from ..runs.join import JoinRun
from ..runs.travel import TravelRun
from ..server.start import ConnectionOptions

GENERATOR_HELP = ("preview (CPU, default), wan21-vace, wan22-vace, wan-flf (first-last-frame models), or an "
                  "API-format TEMPLATE.json")
RETIME_HELP = ("from the generation rate (16 fps) to --fps: blend = mix neighbouring frames, nearest = repeat/drop "
               "frames (default %(default)s)")
WORK_SIZE_HELP = "generation size, multiples of 16 (default: {default})"
PHASES_EXAMPLE = '[{"model": "high", "end_step": 2, "cfg": 3}, {"cfg": 1}]'


def default(cls, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name`` (where every flag's default comes from)."""
    for f in fields(cls):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:
                return f.default_factory()
    raise KeyError(f"{cls.__name__} has no default for {name}")


def from_namespace(cls, ns: argparse.Namespace, **overrides: Any):
    """``cls`` (a dataclass) from the namespace's attributes named like its fields."""
    values = {f.name: getattr(ns, f.name) for f in fields(cls) if hasattr(ns, f.name)}
    return cls(**{**values, **overrides})


def as_list(value) -> list:
    """A run field's default as the list ``nargs="+"`` flags hold (``48`` -> ``[48]``)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


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


# --- what to make ----------------------------------------------------------------------------------

def add_travel_plan_arguments(p: argparse.ArgumentParser, frames_required: bool = True) -> None:
    p.add_argument("--frames", type=int, nargs="+", required=frames_required,
                   default=as_list(default(TravelRun, "segment_frames")), metavar="F",
                   help="frames between successive keyframes (segment_frames): one value for all segments or one per "
                        "segment (default %(default)s)")
    p.add_argument("--overlap", type=int, nargs="+", default=as_list(default(TravelRun, "overlap")), metavar="O",
                   help="frames cross-faded at each boundary: one value or one per boundary (default %(default)s)")
    p.add_argument("--mode", choices=TRAVEL_MODES, default=default(TravelRun, "mode"),
                   help="chained: each segment continues the previous one's last frames (sequential); "
                        "independent: each segment anchored on its own keyframes (parallel)")
    p.add_argument("--exact-keyframes", action="store_true",
                   help="flex each overlap by up to 2 frames so every keyframe lands exactly on its requested frame")
    p.add_argument("--loop", action="store_true",
                   help="a seamless loop: one more segment from the last keyframe back to the first")


def add_join_plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--context", type=int, default=default(JoinRun, "context"),
                   help="frames of each clip around a join kept as context (default %(default)s)")
    p.add_argument("--gap", type=int, default=default(JoinRun, "gap"),
                   help="frames generated between the contexts (default %(default)s; absorbs 4n+1 rounding)")
    p.add_argument("--replace", action="store_true",
                   help="replace mode: the gap replaces frames around the cut, total length unchanged (default: insert)")
    p.add_argument("--blend", type=int, default=default(JoinRun, "blend"),
                   help="frames cross-faded on each side (default: the whole context)")
    p.add_argument("--per-join", default=None, metavar="JSON",
                   help='per-join overrides as a JSON list, e.g. \'[{}, {"gap": 21, "replace": true}]\' (null = none)')
    p.add_argument("--allow-shrink", action="store_true",
                   help="shrink context and gap of joins around a too-short clip instead of failing")
    p.add_argument("--loop", action="store_true",
                   help="a seamless loop: also join the last clip back to the first (one clip: to itself)")


def add_extend_plan_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, nargs="+", required=True, metavar="F",
                   help="new frames after the clip: one total, or one per --to image (plus an optional last "
                        "one for frames after the last image)")
    p.add_argument("--to", type=Path, nargs="+", default=[], metavar="IMAGE",
                   help="images the extension lands on, in order (each leg ends exactly on its image)")
    p.add_argument("--overlap", type=int, default=default(ExtendRun, "overlap"), metavar="O",
                   help="the video's last frames each new segment continues (default %(default)s)")
    p.add_argument("--max-generation", type=int, default=default(ExtendRun, "max_generation"), metavar="N",
                   help="longest single generation, overlap included (default %(default)s); longer "
                        "extensions are split into several segments")
    p.add_argument("--blend", type=int, default=default(ExtendRun, "blend"),
                   help="frames before each segment cross-faded into its re-creation of them (default 0: the "
                        "clip is kept untouched)")


# --- how it is delivered ---------------------------------------------------------------------------

def add_render_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output .mp4 path")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="delivered output size (default: the first input's); generation runs at about "
                        "832x480 at its shape (--work-size)")
    p.add_argument("--fit", choices=CONFORM_FIT_MODES, default=None,
                   help="how inputs of another shape are brought to the size: crop = centre-crop to the aspect "
                        f"then resize, pad = letterbox with black, stretch = distort (default {DEFAULT_FIT})")
    p.add_argument("--method", choices=PREVIEW_METHODS, default=default(Recipe, "preview_method"),
                   help="preview generator: flow = optical-flow morph, blend = cross-dissolve (default %(default)s)")
    p.add_argument("--curve", choices=CURVES, default=default(TravelRun, "curve"),
                   help="cross-fade curve (default %(default)s)")
    p.add_argument("--sharpen", type=float, default=default(TravelRun, "sharpen"),
                   help=f"sharpening inside cross-fades, 0..{MAX_SHARPEN:g} (default %(default)s; the original used 0.3)")
    p.add_argument("--crf", type=int, default=default(TravelRun, "crf"),
                   help="H.264 quality, lower is better (default %(default)s)")
    p.add_argument("--preset", choices=PRESETS, default=default(TravelRun, "preset"),
                   help="H.264 preset (default %(default)s)")


def add_travel_delivery_arguments(p: argparse.ArgumentParser) -> None:
    """How a travel is delivered: rate, generation size, retiming, soundtrack (``--size`` is the
    delivered size, with the render flags)."""
    p.add_argument("--fps", type=float, default=default(TravelRun, "fps"),
                   help="delivered frame rate (default %(default)s = Wan's own; others retime the 16 fps frames)")
    p.add_argument("--work-size", default=None, metavar="WxH",
                   help=WORK_SIZE_HELP.format(default="from --size or the first image, at most about 832x480 pixels"))
    p.add_argument("--retime", choices=RETIME_MODES, default=default(TravelRun, "retime"), help=RETIME_HELP)
    p.add_argument("--soundtrack", type=Path, default=None, metavar="FILE",
                   help="a sound or video file played under the travel (trimmed or padded to its length)")


def add_join_delivery_arguments(p: argparse.ArgumentParser) -> None:
    """How a join is delivered: rate, generation size, retiming of the transitions, the sound of
    the generated gaps (``--size`` is the delivered size, with the render flags)."""
    p.add_argument("--fps", type=float, default=default(JoinRun, "fps"),
                   help="delivered frame rate (default 0 = the first clip's; clips at other rates keep their "
                        "duration)")
    p.add_argument("--work-size", default=None, metavar="WxH",
                   help=WORK_SIZE_HELP.format(default="about 832x480 pixels at the output's aspect"))
    p.add_argument("--retime", choices=RETIME_MODES, default=default(JoinRun, "retime"), help=RETIME_HELP)
    p.add_argument("--gap-audio", choices=GAP_AUDIO_MODES, default=default(JoinRun, "gap_audio"),
                   help="what the generated transitions sound like: crossfade = the neighbours' sound "
                        "cross-faded, cut = each clip's own sound up to the cut, silence (default %(default)s)")


# --- runs on ComfyUI servers -------------------------------------------------------------------

def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("ComfyUI servers")
    g.add_argument("--server", dest="servers", action="append", default=None, metavar="URL",
                   help="ComfyUI server (repeat for several; independent steps are spread over them)")
    g.add_argument("--retries", type=int, default=default(ConnectionOptions, "retries"),
                   help="times a failed step is re-submitted (default %(default)s)")
    g.add_argument("--server-timeout", type=float, default=default(ConnectionOptions, "server_timeout"), metavar="S",
                   help="give up on a server unreachable or silent for this long (default %(default)s; exit 3, "
                        "resume later)")
    g.add_argument("--window", type=int, default=default(ConnectionOptions, "window"), metavar="N",
                   help="prompts of this run queued per server at once (default %(default)s)")
    g.add_argument("--no-progress", action="store_true", help="no progress display")


def add_run_arguments(parser: argparse.ArgumentParser, runs_dir_default: str | None) -> None:
    """Where a run lives and how it is started (``travel``/``join``/``extend`` and ``run``)."""
    parser.add_argument("--run-id", default="", help="run id (default: generated); an existing one resumes")
    parser.add_argument("--runs-dir", default=runs_dir_default, metavar="DIR",
                        help="where run directories <DIR>/<run_id>/ are kept" +
                             (f" (default {runs_dir_default})" if runs_dir_default else " (default: the plan's output_dir)"))
    parser.add_argument("--detach", action="store_true",
                        help="submit the whole run as one prompt and exit; pick it up with segue status/resume RUN_DIR")
    parser.add_argument("--export-prompts", type=Path, default=None, metavar="DIR",
                        help="write every step's API prompt to DIR/<step>.json (and DIR/detached.json) and "
                             "submit nothing: no server is contacted")


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """What generates (``travel``/``join``/``extend``): the generator, its model files, the sampler,
    prompts and colour; defaults are the recipe's own."""
    g = parser.add_argument_group("generation")
    g.add_argument("--generator", default="preview", metavar="NAME", help=GENERATOR_HELP)
    _add_model_file_arguments(g, {"unet": "diffusion model file (wan: the VACE model; wan22: high-noise expert)",
                                  "unet-low": "wan22-vace: low-noise expert model file",
                                  "vae": "VAE file (Wan 2.1 VAE)", "clip": "text encoder file (umT5)",
                                  "clip-vision": "wan-flf: CLIP vision model file (optional)",
                                  "weight-dtype": "UNETLoader weight_dtype (default, fp8_e4m3fn, ...)"}, None)
    recipe = Recipe()
    g.add_argument("--steps", type=int, default=recipe.steps, help="sampler steps (default %(default)s)")
    g.add_argument("--cfg", type=float, default=recipe.cfg, help="CFG scale (default %(default)s)")
    g.add_argument("--shift", type=float, default=recipe.shift, help="ModelSamplingSD3 shift (default %(default)s)")
    g.add_argument("--split-step", type=int, default=recipe.split_step,
                   help="wan22-vace: step where the low-noise expert takes over (default steps/2)")
    g.add_argument("--sampler", default=recipe.sampler, help="sampler name (default %(default)s)")
    g.add_argument("--scheduler", default=recipe.scheduler, help="scheduler (default %(default)s)")
    g.add_argument("--seed", type=int, default=default(TravelRun, "seed"),
                   help="seed (-1 = random, fixed in the manifest; default %(default)s)")
    g.add_argument("--seed-mode", choices=SEED_POLICIES, default=default(TravelRun, "seed_mode"),
                   help="increment: seed + step index; fixed: same seed for every step (default %(default)s)")
    g.add_argument("--prompt", action="append", default=None, metavar="TEXT",
                   help="prompt; travel: repeat once per segment or give one for all")
    g.add_argument("--negative-prompt", action="append", default=None, metavar="TEXT", help="negative prompt")
    g.add_argument("--phases", default=None, metavar="FILE.json|JSON",
                   help='sampler phases, e.g. \'[{"model": "high", "end_step": 2, "cfg": 3}, {"model": "high", '
                        '"end_step": 4, "cfg": 1}, {"model": "low", "cfg": 1}]\' (each a KSamplerAdvanced)')
    g.add_argument("--lora", action="append", default=None, metavar="NAME[:STRENGTH]",
                   help="a LoRA file (models/loras) on every model; repeat for several (strength default 1)")
    g.add_argument("--reference-image", default="", metavar="PATH",
                   help="wan-vace: VACE reference image for every segment / transition")
    g.add_argument("--colour-match", choices=COLOUR_MATCH_MODES, default=recipe.colour_match,
                   help="match each step's colours to the frames it continues (previous) or the first keyframe")
    g.add_argument("--colour-method", choices=COLOUR_METHODS, default=recipe.colour_method,
                   help="colour match in Lab or RGB (default %(default)s)")
    g.add_argument("--saturation", type=float, default=recipe.saturation,
                   help="saturation of every step after the first (every transition), 0..4 (default 1)")
    g.add_argument("--brightness", type=float, default=recipe.brightness,
                   help="brightness of every step after the first: pixels x (1 + B), -1..1 (default 0)")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """``segue travel`` / ``join`` / ``extend``: running through ComfyUI servers, and what generates."""
    add_connection_arguments(parser)
    add_generation_arguments(parser)
    add_run_arguments(parser, runs_dir_default=default(TravelRun, "output_dir"))


def add_model_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Model files for a plan that names none (a converted original payload): ``run`` / ``convert``."""
    g = parser.add_argument_group("model files (override the plan's)")
    _add_model_file_arguments(g, {"unet": "diffusion model (wan22: high-noise expert)", "unet-low": "low-noise expert",
                                  "vae": "VAE", "clip": "text encoder", "clip-vision": "CLIP vision model",
                                  "weight-dtype": "UNETLoader weight_dtype"}, " file as the server lists it")


def _add_model_file_arguments(group, helps: dict[str, str], suffix: str | None) -> None:
    """One flag per model file (``ModelFiles``' fields): defaults None = not given."""
    for key in FILE_KEYS:
        flag = key.replace("_", "-")
        group.add_argument(f"--{flag}", default=None, help=helps[flag] + (suffix or ""))
