"""Runs straight from the parsed command line: ``segue travel`` / ``join`` / ``extend`` (and
``segue plan``) turn argparse's namespace into the ``TravelRun`` / ``JoinRun`` / ``ExtendRun`` a
plan file describes, so the local renderer, the servers, ``--export-prompts`` and ``segue plan``
all start from one validated object and reach the planners by one road (``Run.plan``).

How a run is started (``--server``, ``--detach``, ``--export-prompts``, the run directory) is
not part of the run: ``launch`` and ``connection`` read those.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ...video_utils.core.constants import DEFAULT_FIT
from ...video_utils.core.errors import PlanError
from ...video_utils.core.parse import one_or_list, per_join_overrides
from ...video_utils.core.prompt_text import segment_prompts
from ...video_utils.core.sizes import generation_size, parse_size
from ..runs.common import ClipRef
from ..runs.extend import ExtendRun
from ..runs.generator import FILE_KEYS, GeneratorConfig
from ..runs.join import JoinRun
from ..runs.travel import TravelRun
from ..server.start import ConnectionOptions
from .options import PHASES_EXAMPLE, from_namespace, json_or_file


@dataclass(frozen=True)
class Launch:
    """How ``travel`` / ``join`` / ``extend`` start their run: through servers (``servers``), as
    one detached prompt, as exported prompts, or (none of these) on this machine."""

    connection: ConnectionOptions
    detach: bool = False
    export_prompts: Path | None = None

    @property
    def remote(self) -> bool:
        return bool(self.connection.servers or self.export_prompts)


def launch(ns: argparse.Namespace) -> Launch:
    return Launch(from_namespace(ConnectionOptions, ns), bool(ns.detach), ns.export_prompts)


def generator_config(ns: argparse.Namespace) -> GeneratorConfig:
    """The generator of ``--generator`` with the model files, sampler and colour options."""
    return GeneratorConfig.from_name(
        ns.generator or "preview", **{name: getattr(ns, name) for name in FILE_KEYS}, steps=ns.steps, cfg=ns.cfg,
        shift=ns.shift, split_step=ns.split_step, sampler=ns.sampler, scheduler=ns.scheduler,
        preview_method=ns.method, phases=json_or_file(ns.phases, "--phases", PHASES_EXAMPLE), loras=ns.lora,
        reference_image=absolute(ns.reference_image) or None, colour_match=ns.colour_match,
        colour_method=ns.colour_method, saturation=ns.saturation, brightness=ns.brightness)


def _output_size(ns: argparse.Namespace) -> tuple[int, int]:
    """``--size``: the delivered size, as given (1920x1080 stays; the generation size is chosen from it)."""
    if not ns.size:
        return 0, 0
    parse_size(ns.size)                     # the format and sign checks
    width, height = (int(v) for v in ns.size.lower().replace(" ", "").split("x"))
    return width, height


def _shared(ns: argparse.Namespace) -> dict:
    """The fields every kind of run takes from the same flags."""
    return dict(seed=ns.seed, seed_mode=ns.seed_mode, curve=ns.curve, sharpen=ns.sharpen, crf=ns.crf,
                preset=ns.preset, generator=generator_config(ns), run_id=ns.run_id,
                output_dir=absolute(ns.runs_dir), out=absolute(ns.out))


def travel_plan_fields(ns: argparse.Namespace) -> dict:
    """The travel plan's flags (``segue travel``, ``segue plan travel``, ``segue demo``)."""
    return dict(segment_frames=one_or_list(ns.frames), overlap=one_or_list(ns.overlap), mode=ns.mode,
                exact_keyframes=ns.exact_keyframes, loop=ns.loop)


def travel_run(ns: argparse.Namespace) -> TravelRun:
    """``segue travel``: ``--size`` is the delivered size, the generation size ``--work-size`` or
    derived from it (at most about 832x480 pixels)."""
    out_width, out_height = _output_size(ns)
    if ns.work_size:
        width, height = parse_size(ns.work_size)
    elif out_width:
        width, height = generation_size(out_width, out_height)
    else:
        width = height = 0
    return TravelRun(
        images=[str(Path(p).resolve()) for p in ns.images], **travel_plan_fields(ns),
        prompts=one_or_list(ns.prompt) or "", negative_prompts=one_or_list(ns.negative_prompt) or "",
        width=width, height=height, fit=ns.fit or DEFAULT_FIT, fps=ns.fps, out_width=out_width,
        out_height=out_height, retime=ns.retime, soundtrack=absolute(ns.soundtrack), **_shared(ns))


def join_plan_fields(ns: argparse.Namespace) -> dict:
    """The join plan's flags (``segue join``, ``segue plan join``)."""
    return dict(context=ns.context, gap=ns.gap, replace=ns.replace, blend=ns.blend,
                per_join=per_join_overrides(ns.per_join, "--per-join"), allow_shrink=ns.allow_shrink, loop=ns.loop)


def join_run(ns: argparse.Namespace) -> JoinRun:
    """``segue join``; several ``--prompt`` are one per join (the rule of every path:
    ``prompt_text.segment_prompts``)."""
    width, height = _output_size(ns)
    work_width, work_height = parse_size(ns.work_size) if ns.work_size else (0, 0)
    run = JoinRun(
        clips=[ClipRef(str(Path(p).resolve()), Path(p).stem) for p in ns.clips], width=width, height=height,
        fit=ns.fit or DEFAULT_FIT, fps=ns.fps, work_width=work_width, work_height=work_height, retime=ns.retime,
        gap_audio=ns.gap_audio, **join_plan_fields(ns), bridging=ns.bridging, keep_audio=not ns.no_audio,
        **_shared(ns))
    for name, values in (("prompt", ns.prompt), ("negative_prompt", ns.negative_prompt)):
        if not values:
            continue
        if len(values) == 1:
            setattr(run, name, values[0])
            continue
        values = segment_prompts(values, run.join_count, f"--{name.replace('_', '-')}", "join")
        while len(run.per_join) < len(values):
            run.per_join.append({})
        for entry, value in zip(run.per_join, values):
            entry.setdefault(name, value)
    return run


def extend_run(ns: argparse.Namespace) -> ExtendRun:
    """``segue extend``: the clip keeps its own size and shape."""
    if ns.size:
        raise PlanError(f"--size {ns.size} does not apply to extend: the result has the clip's size "
                        f"(and is generated at it, snapped to 16); leave --size out")
    if ns.fit:
        raise PlanError(f"--fit {ns.fit} does not apply to extend: the clip keeps its own size and shape; "
                        f"leave --fit out")
    return ExtendRun(
        clip=ClipRef(str(Path(ns.clip_path).resolve()), Path(ns.clip_path).stem), frames=one_or_list(ns.frames),
        overlap=ns.overlap, keyframes=[str(Path(p).resolve()) for p in ns.to], max_generation=ns.max_generation,
        blend=ns.blend, prompts=one_or_list(ns.prompt) or "", negative_prompts=one_or_list(ns.negative_prompt) or "",
        keep_audio=not ns.no_audio, **_shared(ns))


def absolute(path) -> str:
    """Command-line paths are relative to the working directory; the manifest keeps them absolute."""
    return str(Path(path).resolve()) if path else ""
