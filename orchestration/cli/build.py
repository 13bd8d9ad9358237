"""Runs built from the ``segue travel`` / ``join`` / ``extend`` command lines' options
(``command_options``): the typed option objects become a ``TravelRun`` / ``JoinRun`` / ``ExtendRun``
(``run_models``), the same run a plan file describes, so the local renderer, the servers and
``--export-prompts`` all start from one validated object.
"""

from __future__ import annotations

from pathlib import Path

from ...video_utils.core.constants import DEFAULT_FIT
from ...video_utils.core.errors import PlanError
from ...video_utils.core.prompt_text import segment_prompts
from ...video_utils.core.sizes import generation_size, parse_size
from ..runs.generator import FILE_KEYS
from ..runs.models import ClipRef, ExtendRun, GeneratorConfig, JoinRun, TravelRun
from .command_options import ExtendCommand, JoinCommand, TravelCommand
from .options import json_or_file, one_or_list


def generator_config(cmd: TravelCommand | JoinCommand | ExtendCommand) -> GeneratorConfig:
    """The generator of ``--generator`` with the model files, sampler and colour options."""
    g = cmd.generation
    return GeneratorConfig.from_name(
        g.generator or "preview", **{name: getattr(g, name) for name in FILE_KEYS}, steps=g.steps, cfg=g.cfg,
        shift=g.shift, split_step=g.split_step, sampler=g.sampler, scheduler=g.scheduler,
        preview_method=cmd.render.method,
        phases=json_or_file(g.phases, "--phases", '[{"model": "high", "end_step": 2, "cfg": 3}, {"cfg": 1}]'),
        loras=g.lora, reference_image=absolute(g.reference_image) or None, colour_match=g.colour_match,
        colour_method=g.colour_method, saturation=g.saturation, brightness=g.brightness)


def _output_size(cmd) -> tuple[int, int]:
    """``--size``: the delivered size, as given (1920x1080 stays; the generation size is chosen from it)."""
    if not cmd.render.size:
        return 0, 0
    parse_size(cmd.render.size)                 # the format and sign checks
    width, height = (int(v) for v in cmd.render.size.lower().replace(" ", "").split("x"))
    return width, height


def _shared(cmd) -> dict:
    """The fields every kind of run takes from the same options."""
    g, r = cmd.generation, cmd.render
    return dict(seed=g.seed, seed_mode=g.seed_mode, curve=r.curve, sharpen=r.sharpen, crf=r.crf, preset=r.preset,
                generator=generator_config(cmd), run_id=cmd.run.run_id, output_dir=absolute(cmd.run.runs_dir),
                out=absolute(r.out))


def travel_run(cmd: TravelCommand) -> TravelRun:
    """A TravelRun from ``segue travel``'s options: ``--size`` is the delivered size, the
    generation size ``--work-size`` or derived from it (at most about 832x480 pixels)."""
    out_width, out_height = _output_size(cmd)
    d, g = cmd.delivery, cmd.generation
    if d.work_size:
        width, height = parse_size(d.work_size)
    elif out_width:
        width, height = generation_size(out_width, out_height)
    else:
        width = height = 0
    return TravelRun(
        images=[str(Path(p).resolve()) for p in cmd.images], segment_frames=one_or_list(cmd.plan.frames),
        overlap=one_or_list(cmd.plan.overlap), mode=cmd.plan.mode, exact_keyframes=cmd.plan.exact_keyframes,
        loop=cmd.plan.loop, prompts=one_or_list(g.prompt) or "", negative_prompts=one_or_list(g.negative_prompt) or "",
        width=width, height=height, fit=cmd.render.fit or DEFAULT_FIT, fps=d.fps, out_width=out_width, out_height=out_height,
        retime=d.retime, soundtrack=absolute(d.soundtrack), **_shared(cmd))


def join_run(cmd: JoinCommand) -> JoinRun:
    """A JoinRun from ``segue join``'s options; several ``--prompt`` are one per join (the rule of
    every path: ``prompt_text.segment_prompts``)."""
    g, plan, d = cmd.generation, cmd.plan, cmd.delivery
    per_join = [dict(entry) for entry in plan.per_join]
    width, height = _output_size(cmd)
    work_width, work_height = parse_size(d.work_size) if d.work_size else (0, 0)
    run = JoinRun(
        clips=[ClipRef(str(Path(p).resolve()), Path(p).stem) for p in cmd.clips], width=width, height=height,
        fit=cmd.render.fit or DEFAULT_FIT, fps=d.fps, work_width=work_width, work_height=work_height, retime=d.retime,
        gap_audio=d.gap_audio,
        context=plan.context, gap=plan.gap, replace=plan.replace, blend=plan.blend, per_join=per_join,
        allow_shrink=plan.allow_shrink, bridging=cmd.bridging, loop=plan.loop, keep_audio=not cmd.no_audio,
        **_shared(cmd))
    for name, values in (("prompt", g.prompt), ("negative_prompt", g.negative_prompt)):
        if not values:
            continue
        if len(values) == 1:
            setattr(run, name, values[0])
            continue
        values = segment_prompts(values, run.join_count, f"--{name.replace('_', '-')}", "join")
        while len(per_join) < len(values):
            per_join.append({})
        for entry, value in zip(per_join, values):
            entry.setdefault(name, value)
    return run


def extend_run(cmd: ExtendCommand) -> ExtendRun:
    """An ExtendRun from ``segue extend``'s options."""
    if cmd.render.size:
        raise PlanError(f"--size {cmd.render.size} does not apply to extend: the result has the clip's size "
                        f"(and is generated at it, snapped to 16); leave --size out")
    if cmd.render.fit:
        raise PlanError(f"--fit {cmd.render.fit} does not apply to extend: the clip keeps its own size and shape; "
                        f"leave --fit out")
    g, plan = cmd.generation, cmd.plan
    return ExtendRun(
        clip=ClipRef(str(Path(cmd.clip).resolve()), Path(cmd.clip).stem), frames=one_or_list(plan.frames),
        overlap=plan.overlap, keyframes=[str(Path(p).resolve()) for p in plan.to],
        max_generation=plan.max_generation, blend=plan.blend, prompts=one_or_list(g.prompt) or "",
        negative_prompts=one_or_list(g.negative_prompt) or "", keep_audio=not cmd.no_audio, **_shared(cmd))


def absolute(path) -> str:
    """Command-line paths are relative to the working directory; the manifest keeps them absolute."""
    return str(Path(path).resolve()) if path else ""
