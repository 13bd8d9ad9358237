#!/usr/bin/env python3
"""Planning + graph building for 10, 100 and 1,000 segments (issue 10), no server, no torch.

For each size: ``plan_travel`` (the planner), the whole-run graph a one-node travel expands into
(``video_utils.core.chains.travel_graph``), and the orchestrator's per-step prompts
(``orchestration.runs.prompts.step_prompt`` for every step), with the preview recipe and the three-phase
Wan 2.2 Lightning recipe with LoRAs.  The baseline in the same run is ``json.dumps`` of the
same graphs (what submitting them costs anyway).  Target: 100 segments, plan + graphs < 50 ms.

    .venv/bin/python bench/bench_graphs.py
"""

from __future__ import annotations

import json
import statistics
import time

from segue.orchestration.runs.prompts import step_prompt
from segue.orchestration.runs.models import GeneratorConfig, TravelRun
from segue.orchestration.runs.steps import travel_steps
from segue.video_utils.core.step_settings import EncodeSettings, TravelStepSettings
from segue.video_utils.core.chains import SaveTo, Sources, Texts, travel_graph
from segue.video_utils.core.prompt_graph import Graph

LIGHTNING = {"steps": 6, "phases": [
    {"model": "high", "end_step": 2, "cfg": 3.0},
    {"model": "high", "end_step": 4, "cfg": 1.0, "loras": [{"name": "lightning_high.safetensors"}]},
    {"model": "low", "cfg": 1.0, "loras": [{"name": "lightning_low.safetensors"}]}]}
RECIPES = {
    "preview": GeneratorConfig.from_name("preview"),
    "wan22 3-phase": GeneratorConfig.from_name("wan22-vace", unet="h.safetensors", unet_low="l.safetensors",
                                               vae="v.safetensors", clip="c.safetensors", **LIGHTNING),
}


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times) if repeat < 5 else statistics.median(times)


def one_prompt_graph(run: TravelRun, plan) -> dict:
    g = Graph()
    recipe = run.generator.recipe(run.seed, run.seed_mode)
    sources = Sources(model=["m", 0], model_low=["ml", 0] if run.generator.unet_low else None, vae=["v", 0],
                      clip=["c", 0])
    travel_graph(g, TravelStepSettings(str(run.segment_frames), str(run.overlap)), plan.segments, plan.overlaps,
                 recipe, sources, Texts(tuple(run.segment_prompts()), tuple(run.segment_negative_prompts())),
                 ["keys", 0], [SaveTo()] * len(plan.segments), EncodeSettings(filename_prefix="segue/travel"), 16.0)
    return g.prompt()


def main() -> int:
    print("| segments | recipe | plan | one-prompt graph | per-step prompts | total | json.dumps (baseline) | nodes |")
    print("|---|---|---|---|---|---|---|---|")
    hundred = {}
    for n in (10, 100, 1000):
        images = [f"k{i}.png" for i in range(n + 1)]
        repeat = 20 if n < 1000 else 3
        for label, generator in RECIPES.items():
            run = TravelRun(images=images, segment_frames=48, overlap=8, prompts=[f"shot {i}" for i in range(n)],
                            generator=generator, run_id="bench")
            t_plan = best_of(run.plan, repeat)
            plan = run.plan()
            t_graph = best_of(lambda: one_prompt_graph(run, plan), repeat)
            steps = travel_steps(plan)
            t_steps = best_of(lambda: [step_prompt(run, plan, s, images) for s in steps], repeat)
            graph = one_prompt_graph(run, plan)
            prompts = [step_prompt(run, plan, s, images) for s in steps]
            t_json = best_of(lambda: (json.dumps(graph), [json.dumps(p) for p in prompts]), repeat)
            total = t_plan + t_graph + t_steps
            if n == 100:
                hundred[label] = total
            print(f"| {n} | {label} | {t_plan * 1e3:.1f} ms | {t_graph * 1e3:.1f} ms | {t_steps * 1e3:.1f} ms | "
                  f"{total * 1e3:.1f} ms | {t_json * 1e3:.1f} ms ({total / t_json:.1f}x) | {len(graph):,} |")
    worst = max(hundred.values())
    print(f"\ntarget: 100 segments, plan + graphs < 50 ms: {'PASS' if worst < 0.05 else 'MISS'} "
          f"({worst * 1e3:.1f} ms, slowest recipe)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
