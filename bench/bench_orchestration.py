"""Orchestrator costs: building plans and prompts, and the latency ComfyUI adds per step.

    python bench/bench_orchestration.py [--segments 100] [--server URL | --start-comfyui] [--repeat 5]

1. build: for a travel of ``--segments`` segments, a join of as many clips and an extension of as
   many segments: validate the plan
   (the node's planner), build every step's prompt, the detached whole-run prompt, and validate
   them all against an ``/object_info`` (the server's when one is given, else a synthetic one with
   the same node classes); median of ``--repeat`` runs.  No server needed.
2. latency (with ``--server URL``, or ``--start-comfyui`` to start one through the test harness
   from SEGUE_COMFYUI_DIR): one-step preview prompts (64x64, 17 frames) posted to an idle server;
   per prompt: POST -> ``execution_start`` on the websocket (queue pick-up), POST -> file written
   (``executed`` of the save node) and POST -> file downloaded (what the runner waits for); then a
   4-keyframe travel through the runner: wall time vs the server's own execution time.
Ratios printed are from this one run; compare ratios, not absolute numbers, between machines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from segue.orchestration.server.client import ComfyClient
from segue.orchestration.runs.prompts import detached_prompt, step_prompt, validate_prompt
from segue.orchestration.runs.models import ClipRef, ExtendRun, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.runs.steps import extend_steps, join_steps, travel_steps

REPO = Path(__file__).resolve().parents[1]
WAN = GeneratorConfig(kind="wan21-vace", unet="wan.safetensors", vae="vae.safetensors", clip="t5.safetensors")


def synthetic_object_info(prompts: list[dict]) -> dict:
    """An /object_info that declares exactly what the prompts use (for timing validation only)."""
    info: dict = {}
    for prompt in prompts:
        for node in prompt.values():
            entry = info.setdefault(node["class_type"], {"input": {"required": {}, "optional": {}}, "output": ["*"] * 6})
            for name, value in node["inputs"].items():
                kind = "*" if isinstance(value, list) else \
                    {bool: "BOOLEAN", int: "INT", float: "FLOAT", str: "STRING"}[type(value)]
                entry["input"]["required"][name] = [kind, {}]
    return info


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_build(segments: int, repeat: int, info: dict | None) -> None:
    images = [f"/k/{i}.png" for i in range(segments + 1)]
    names = [f"segue/b/key_{i:03d}.png [input]" for i in range(segments + 1)]
    clip_names = [f"segue/b/clip_{i:03d}.mp4 [input]" for i in range(segments + 1)]
    print(f"== build: {segments} segments / {segments} joins, median of {repeat} ==")
    for label, gen in (("preview", GeneratorConfig()), ("wan21-vace", WAN)):
        travel = TravelRun(images=images, segment_frames=[80, 64, 96] * (segments // 3) + [80] * (segments % 3),
                           overlap=8, run_id="b", generator=gen)
        join = JoinRun(clips=[ClipRef(f"/c/{i}.mp4") for i in range(segments + 1)],
                       clip_frames=[120] * (segments + 1), context=8, gap=53, replace=True, run_id="b", generator=gen)
        state = {}

        def plan_travel_run():
            state["tp"] = travel.validate(check_files=False)

        def build_travel():
            state["tprompts"] = [step_prompt(travel, state["tp"], s, names) for s in travel_steps(state["tp"])]

        def build_travel_detached():
            state["tdet"] = detached_prompt(travel, state["tp"], names)

        def plan_join_run():
            state["jp"] = join.validate(check_files=False)

        def build_join():
            state["jprompts"] = [step_prompt(join, state["jp"], s, clip_names) for s in join_steps(state["jp"])]

        extend = ExtendRun(clip=ClipRef("/c/0.mp4"), clip_frames=120, frames=[72] * segments, overlap=8,
                           keyframes=images[:segments], run_id="b", generator=gen)

        def build_extend():
            plan = extend.validate(check_files=False)
            state["eprompts"] = [step_prompt(extend, plan, s, clip_names[:1] + names[:segments])
                                 for s in extend_steps(plan)]

        t_plan = median_time(plan_travel_run, repeat)
        t_steps = median_time(build_travel, repeat)
        t_detached = median_time(build_travel_detached, repeat)
        j_plan = median_time(plan_join_run, repeat)
        j_steps = median_time(build_join, repeat)
        e_steps = median_time(build_extend, repeat)
        all_prompts = state["tprompts"] + [state["tdet"]] + state["jprompts"] + state["eprompts"]
        use_info = info if info is not None and label == "preview" else synthetic_object_info(all_prompts)
        t_validate = median_time(lambda: [validate_prompt(p, use_info) for p in all_prompts], repeat)
        size = len(json.dumps(state["tdet"]))
        nodes = sum(len(p) for p in state["tprompts"])
        print(f"[{label}] travel plan {t_plan * 1e3:7.2f} ms | {segments + 1} step prompts {t_steps * 1e3:7.2f} ms "
              f"({nodes} nodes) | detached prompt {t_detached * 1e3:7.2f} ms ({len(state['tdet'])} nodes, "
              f"{size / 1024:.0f} KiB JSON)")
        print(f"[{label}] join plan   {j_plan * 1e3:7.2f} ms | {segments + 1} step prompts {j_steps * 1e3:7.2f} ms | "
              f"validate all {len(all_prompts)} prompts {t_validate * 1e3:7.2f} ms "
              f"({'server' if use_info is info else 'synthetic'} object_info)")
        print(f"[{label}] extend: plan + {len(state['eprompts'])} step prompts {e_steps * 1e3:7.2f} ms")


def one_step_prompt(tmp: Path, client: ComfyClient, index: int) -> tuple[dict, str]:
    """A 17-frame 64x64 preview segment between two uploaded keyframes, writing a unique file."""
    import cv2
    import numpy as np
    names = []
    for k in range(2):
        img = np.full((64, 64, 3), 60 + 120 * k, np.uint8)
        path = tmp / f"k{k}.png"
        cv2.imwrite(str(path), img)
        names.append(client.upload(path, f"k{k}.png", "segue/bench", "input"))
    run = TravelRun(images=[str(tmp / "k0.png"), str(tmp / "k1.png")], segment_frames=16, run_id=f"bench{index}",
                    generator=GeneratorConfig.from_name("preview", preview_method="blend"))
    plan = run.validate()
    return step_prompt(run, plan, travel_steps(plan)[0], names), "seg_000.mkv"


def bench_latency(url: str, repeat: int) -> None:
    client = ComfyClient(url)
    print(f"== latency on {client.label} (ComfyUI {client.system_stats()['system'].get('comfyui_version')}), "
          f"{repeat} one-step prompts ==")
    starts, written, fetched, executed = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        ws = client.websocket()
        try:
            for i in range(repeat):
                prompt, file = one_step_prompt(Path(tmp), client, i)
                prompt_id = str(uuid.uuid4())
                t0 = time.perf_counter()
                client.submit(prompt, prompt_id)
                t_start = t_written = None
                while True:
                    message = ws.recv(timeout=60)
                    if message is None:
                        raise SystemExit("no websocket message for 60 s")
                    if isinstance(message, bytes):
                        continue
                    m = json.loads(message)
                    data = m.get("data") or {}
                    if data.get("prompt_id") != prompt_id:
                        continue
                    if m["type"] == "execution_start":
                        t_start = time.perf_counter() - t0
                    elif m["type"] == "executed":
                        t_written = time.perf_counter() - t0
                    elif m["type"] in ("execution_success", "execution_error"):
                        break
                client.download(file, f"segue/bench{i}", Path(tmp) / file)
                fetched.append(time.perf_counter() - t0)
                starts.append(t_start)
                written.append(t_written)
                entry = client.history(prompt_id) or {}
                msgs = {e: d for e, d in entry.get("status", {}).get("messages", [])}
                if "execution_start" in msgs and "execution_success" in msgs:
                    executed.append((msgs["execution_success"]["timestamp"] - msgs["execution_start"]["timestamp"]) / 1e3)
        finally:
            ws.close()
    med = statistics.median
    print(f"POST -> execution_start (queue pick-up): median {med(starts) * 1e3:7.1f} ms  (min {min(starts) * 1e3:.1f})")
    print(f"POST -> file written (executed):         median {med(written) * 1e3:7.1f} ms")
    print(f"POST -> file downloaded:                  median {med(fetched) * 1e3:7.1f} ms")
    if executed:
        print(f"server execution time (start->success):  median {med(executed) * 1e3:7.1f} ms; "
              f"pick-up overhead = {med(starts) / max(med(executed), 1e-9):.1f}x the execution")


def bench_run(url: str) -> None:
    """A 4-keyframe preview travel through the runner: wall time vs the server's execution time."""
    import cv2
    import numpy as np
    from segue.orchestration.runs.models import run_inputs
    from segue.orchestration.server.manifest import Manifest
    from segue.orchestration.server.runner import Runner

    with tempfile.TemporaryDirectory() as tmp:
        images = []
        for k in range(4):
            img = np.full((64, 64, 3), 40 * k + 30, np.uint8)
            cv2.imwrite(f"{tmp}/k{k}.png", img)
            images.append(f"{tmp}/k{k}.png")
        run = TravelRun(images=images, segment_frames=16, overlap=4, run_id=f"benchrun-{uuid.uuid4().hex[:6]}",
                        output_dir=f"{tmp}/runs", generator=GeneratorConfig.from_name("preview", preview_method="blend"))
        plan = run.validate()
        manifest = Manifest.create(f"{tmp}/runs/{run.run_id}", run, plan.to_dict(), travel_steps(plan),
                                   run_inputs(run), f"segue-bench-{uuid.uuid4().hex[:6]}")
        client = ComfyClient(url)
        t0 = time.perf_counter()
        Runner(manifest, [client]).execute()
        wall = time.perf_counter() - t0
        busy = 0.0
        for step in manifest.ordered():
            entry = client.history(step.prompt_id) or {}
            msgs = {e: d for e, d in entry.get("status", {}).get("messages", [])}
            busy += (msgs["execution_success"]["timestamp"] - msgs["execution_start"]["timestamp"]) / 1e3
        print(f"== runner: 4-keyframe chained travel, {len(manifest.steps)} steps ==")
        print(f"wall {wall:.2f} s (preflight, uploads, 4 prompts, 4 downloads) vs server execution {busy:.2f} s: "
              f"{wall / max(busy, 1e-9):.1f}x; {wall / len(manifest.steps) * 1e3:.0f} ms per step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--server", default=None, help="a running ComfyUI with the Segue pack")
    parser.add_argument("--start-comfyui", action="store_true", help="start one with the test harness")
    args = parser.parse_args()
    server = None
    url = args.server
    if args.start_comfyui:
        sys.path.insert(0, str(REPO / "tests"))
        from comfyui_harness import ComfyServer
        server = ComfyServer(Path(tempfile.mkdtemp(prefix="segue_bench_"))).start()
        url = server.url
    try:
        info = ComfyClient(url).object_info() if url else None
        bench_build(args.segments, args.repeat, info)
        if url:
            bench_latency(url, args.repeat)
            bench_run(url)
        else:
            print("(no server: pass --server URL or --start-comfyui for the latency figures)")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
