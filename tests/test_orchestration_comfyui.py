"""The orchestrator against a real ComfyUI with the Segue pack loaded (skipped without one).

Preview generator, 64x64 frames, short segments: every run takes seconds.  Covers travel and join
end to end through /prompt, template splicing, detached runs, a server killed mid-run and resumed
(finished steps not re-run, result frame-identical to an uninterrupted run), two servers sharing
join transitions, bad plans failing before submission, and generated prompts validating against
the real /object_info.
"""

import json
import time

import av
import numpy as np
import pytest

from segue.orchestration import cli
from segue.orchestration.server.client import ComfyClient
from segue.orchestration.runs.models import run_inputs
from segue.orchestration.errors import ServerUnreachable
from segue.orchestration.runs.prompts import detached_prompt, load_template, step_prompt, validate_prompt
from segue.orchestration.server.manifest import Manifest
from segue.orchestration.runs.plan_files import save_plan
from segue.orchestration.runs.models import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.cli import PlanFileCommand, RunDirCommand
from segue.orchestration.cli import RunOptions
from segue.orchestration.server import ConnectionOptions
from segue.orchestration.server.runner import Runner
from segue.orchestration.runs.steps import join_steps, travel_steps

from comfyui_harness import ComfyServer
from background import run_in_background

pytestmark = pytest.mark.comfyui

COLOURS = [(230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30), (30, 230, 230), (230, 30, 230),
           (128, 128, 128), (250, 250, 250)]


def keyframes(tmp_path, n):
    import cv2
    paths = []
    for i in range(n):
        img = np.zeros((64, 64, 3), np.uint8)
        img[:] = COLOURS[i % len(COLOURS)][::-1]
        img[:, : 6 * i + 4] = 255                      # a moving edge, so flow has something to do
        path = tmp_path / f"key{i}.png"
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    return paths


def write_clip(path, n, colour, fps=16):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        s.options = {"crf": "10"}
        for i in range(n):
            img = np.zeros((64, 64, 3), np.uint8)
            img[:] = colour
            img[:, : (i * 3) % 64] = 255 - np.array(colour, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


def decode(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def connection(servers=(), **kw):
    kw.setdefault("server_timeout", 20.0)
    return ConnectionOptions(servers=list(servers), no_progress=True, **kw)


def run_plan(tmp_path, run, servers, out=None, detach=False, **kw):
    path = tmp_path / f"{run.run_id}.json"
    save_plan(run, path)
    return cli.cmd_run(PlanFileCommand(path, RunOptions(out=out, detach=detach), connection(servers, **kw)))


def resume(run_dir, out=None, servers=(), **kw):
    return cli.cmd_resume(RunDirCommand(run_dir, out=out, connection=connection(servers, **kw)))


def history_files(server_url):
    """The saving nodes' file names in every prompt of a server's history."""
    history = ComfyClient(server_url).get_json("/history")
    names = []
    for entry in history.values():
        for node in entry["prompt"][2].values():
            if node["class_type"] in ("SeguePreviewStep", "SegueSaveStep", "SegueStitchFiles", "SegueJoinAssembleFiles"):
                names.append(node["inputs"]["filename"].rsplit("/", 1)[-1])
    return names


@pytest.mark.parametrize("mode, exact, template", [("chained", False, False), ("independent", True, False),
                                                   ("chained", True, True)])
def test_travel_through_comfyui_matches_the_plan(tmp_path, comfy_server, mode, exact, template):
    generator = GeneratorConfig.from_dict({"kind": "preview", "preview_method": "blend"})
    if template:
        tpl = {"1": {"class_type": "SegueGuideSlot", "inputs": {}},
               "2": {"class_type": "SeguePreviewGenerator",
                     "inputs": {"control_video": ["1", 0], "control_masks": ["1", 1], "method": "blend"}},
               "3": {"class_type": "SegueFramesSlot", "inputs": {"images": ["2", 0]}}}
        (tmp_path / "tpl.json").write_text(json.dumps(tpl))
        generator = GeneratorConfig.from_name(str(tmp_path / "tpl.json"))
    run = TravelRun(images=keyframes(tmp_path, 4), segment_frames=14, overlap=5, mode=mode, exact_keyframes=exact,
                    run_id=f"travel-{mode}-{exact}-{template}", output_dir=str(tmp_path / "runs"), generator=generator)
    out = tmp_path / "travel.mp4"
    assert run_plan(tmp_path, run, [comfy_server.url], out=out) == 0
    plan = run.plan()
    frames = decode(out)
    assert frames.shape == (plan.total_frames, 64, 64, 3)
    for k, pos in enumerate(plan.keyframe_frames):          # keyframes land where planned
        right = frames[pos, :, 40:].reshape(-1, 3).mean(0)
        assert np.abs(right - np.array(COLOURS[k])).max() < 20, (k, pos, right)
    state = Manifest.load(tmp_path / "runs" / run.run_id)
    assert all(state.verify(s) for s in state.steps)
    assert all(s.attempts == 1 for s in state.ordered())


@pytest.mark.parametrize("replace", [False, True])
def test_join_through_comfyui_matches_the_plan(tmp_path, comfy_server, replace):
    clips = [ClipRef(write_clip(tmp_path / f"c{i}.mp4", 30, c), f"c{i}")
             for i, c in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)])]
    run = JoinRun(clips=clips, context=4, gap=9, replace=replace, run_id=f"join-{replace}",
                  output_dir=str(tmp_path / "runs"), generator=GeneratorConfig.from_dict({"kind": "preview", "preview_method": "blend"}))
    out = tmp_path / "join.mp4"
    assert run_plan(tmp_path, run, [comfy_server.url], out=out) == 0
    plan = run.plan()
    frames = decode(out)
    assert frames.shape[0] == plan.total_frames == (90 if replace else 90 + 2 * plan.joins[0].gap_frames)


def test_detached_run_is_picked_up_from_history_and_files(tmp_path, comfy_server, capsys):
    run = TravelRun(images=keyframes(tmp_path, 3), segment_frames=14, overlap=4, run_id="detached",
                    output_dir=str(tmp_path / "runs"), generator=GeneratorConfig.from_dict({"kind": "preview", "preview_method": "blend"}))
    assert run_plan(tmp_path, run, [comfy_server.url], detach=True) == 0
    run_dir = tmp_path / "runs" / "detached"
    state = Manifest.load(run_dir)
    prompt_id = state.data["detached"]["prompts"][0]
    comfy_server.wait(prompt_id, timeout=120)
    assert cli.cmd_status(RunDirCommand(run_dir)) == 0
    assert "segue resume collects it" in capsys.readouterr().out
    out = tmp_path / "detached.mp4"
    assert resume(run_dir, out=out) == 0
    assert decode(out).shape[0] == run.plan().total_frames
    state = Manifest.load(run_dir)
    assert {s.prompt_id for s in state.ordered()} == {prompt_id}      # nothing was submitted again


def test_killed_server_resume_skips_finished_steps_and_matches_an_uninterrupted_run(tmp_path, comfyui_available):
    server = ComfyServer(tmp_path / "base").start()
    port = server.port
    try:
        run = TravelRun(images=keyframes(tmp_path, 8), segment_frames=14, overlap=4, run_id="killed",
                        output_dir=str(tmp_path / "runs"), generator=GeneratorConfig.from_dict({"kind": "preview", "preview_method": "flow"}))
        run.validate()
        steps = travel_steps(run.plan())
        manifest = Manifest.create(tmp_path / "runs" / "killed", run, run.plan().to_dict(), steps,
                                   run_inputs(run), "segue-kill-test")
        runner = Runner(manifest, [ComfyClient(server.url)], server_timeout=2.0, poll_s=0.1)
        thread, outcome = run_in_background(runner.execute)
        deadline = time.monotonic() + 120
        while manifest.steps["seg_001"].state != "done" and time.monotonic() < deadline:
            time.sleep(0.005)
        server.stop(kill=True)
        thread.join(60)
        assert isinstance(outcome.get("error"), ServerUnreachable), outcome
        state = Manifest.load(manifest.run_dir)
        done = [s.id for s in state.ordered() if s.state == "done"]
        assert "seg_001" in done and state.steps["final"].state != "done", done

        server = ComfyServer(tmp_path / "base", port=port).start()        # same base dir, same port
        out = tmp_path / "resumed.mp4"
        assert resume(manifest.run_dir, out=out) == 0
        rerun = history_files(server.url)
        assert not set(rerun) & set(done), (rerun, done)
        assert sorted(rerun) == sorted(s.id for s in steps if s.id not in done)
        state = Manifest.load(manifest.run_dir)
        assert all(state.steps[s].attempts == 1 for s in done)

        reference = TravelRun(**{**run.__dict__, "run_id": "uninterrupted"})
        ref_out = tmp_path / "reference.mp4"
        assert run_plan(tmp_path, reference, [server.url], out=ref_out) == 0
        resumed, expected = decode(out), decode(ref_out)
        assert resumed.shape[0] == run.plan().total_frames
        assert np.array_equal(resumed, expected)
    finally:
        server.stop()


def test_two_servers_share_the_join_transitions(tmp_path, comfy_server):
    second = ComfyServer(tmp_path / "second").start()
    try:
        clips = [ClipRef(write_clip(tmp_path / f"c{i}.mp4", 24, (40 * i, 200 - 40 * i, 90)), f"c{i}")
                 for i in range(5)]
        run = JoinRun(clips=clips, context=3, gap=5, run_id="two-servers", output_dir=str(tmp_path / "runs"),
                      generator=GeneratorConfig.from_dict({"kind": "preview", "preview_method": "blend"}))
        out = tmp_path / "two.mp4"
        assert run_plan(tmp_path, run, [comfy_server.url, second.url], out=out, window=1) == 0
        state = Manifest.load(tmp_path / "runs" / "two-servers")
        used = {state.steps[f"trans_{j:03d}"].server for j in range(4)}
        assert used == {comfy_server.url, second.url}
        assert decode(out).shape[0] == run.plan().total_frames
        assert sorted(t for t in history_files(second.url) if t.startswith("trans")) == sorted(
            s.id for s in state.ordered() if s.kind == "transition" and s.server == second.url)
    finally:
        second.stop()


def test_bad_plans_fail_before_anything_reaches_the_server(tmp_path, comfy_server, capsys):
    before = len(ComfyClient(comfy_server.url).get_json("/history"))
    imgs = keyframes(tmp_path, 3)
    cases = [
        (TravelRun(images=imgs, run_id="no-model", generator=GeneratorConfig(
            kind="wan21-vace", unet="nope.safetensors", vae="nope_vae.safetensors", clip="nope_t5.safetensors")),
         "unknown model file 'nope.safetensors'"),
        (TravelRun(images=[], run_id="none"), "at least 1 keyframe image"),
        (TravelRun(images=[imgs[0], str(tmp_path / "gone.png")], run_id="gone"), "gone.png' does not exist"),
        (TravelRun(images=imgs, segment_frames=12, overlap=12, run_id="ovl"), "overlap[0]=12 must be smaller"),
    ]
    for run, message in cases:
        run.output_dir = str(tmp_path / "runs")
        assert run_plan(tmp_path, run, [comfy_server.url]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err and all(line.startswith("segue: error: ") for line in err)
        assert any(message in line for line in err), err          # one line per problem
        assert len(err) == (3 if run.run_id == "no-model" else 1), err
    assert run_plan(tmp_path, TravelRun(images=imgs, run_id="down", output_dir=str(tmp_path / "runs")),
                    ["http://127.0.0.1:9"]) == 3
    assert "unreachable" in capsys.readouterr().err
    assert len(ComfyClient(comfy_server.url).get_json("/history")) == before
    assert not (tmp_path / "runs").exists()


def test_every_generated_prompt_validates_against_the_real_object_info(tmp_path, comfy_server):
    models = comfy_server.base / "models"
    for folder, name in (("diffusion_models", "segue_fake_high.safetensors"),
                         ("diffusion_models", "segue_fake_low.safetensors"),
                         ("vae", "segue_fake_vae.safetensors"), ("text_encoders", "segue_fake_t5.safetensors")):
        (models / folder).mkdir(parents=True, exist_ok=True)
        (models / folder / name).write_bytes(b"")
    info = ComfyClient(comfy_server.url).object_info()
    wan = dict(unet="segue_fake_high.safetensors", vae="segue_fake_vae.safetensors", clip="segue_fake_t5.safetensors")
    tpl = tmp_path / "tpl.json"
    tpl.write_text(json.dumps({"1": {"class_type": "SegueGuideSlot", "inputs": {}},
                               "2": {"class_type": "SeguePreviewGenerator",
                                     "inputs": {"control_video": ["1", 0], "control_masks": ["1", 1], "method": "flow"}},
                               "3": {"class_type": "SegueFramesSlot", "inputs": {"images": ["2", 0]}}}))
    generators = [GeneratorConfig(), GeneratorConfig(kind="wan21-vace", **wan),
                  GeneratorConfig(kind="wan22-vace", unet_low="segue_fake_low.safetensors", **wan),
                  GeneratorConfig.from_name(str(tpl))]
    imgs = keyframes(tmp_path, 3)
    names = [f"segue/v/key_{i}.png [input]" for i in range(3)]
    clip_names = [f"segue/v/clip_{i}.mp4 [input]" for i in range(3)]
    for gen in generators:
        for mode in ("chained", "independent"):
            run = TravelRun(images=imgs, segment_frames=14, overlap=4, mode=mode, run_id="v", generator=gen)
            plan = run.validate()
            template = load_template(gen.template) if gen.kind == "template" else None
            prompts = [step_prompt(run, plan, s, names, template) for s in travel_steps(plan)]
            prompts.append(detached_prompt(run, plan, names))
            for p in prompts:
                assert validate_prompt(p, info) == [], (gen.kind, mode)
        jrun = JoinRun(clips=[ClipRef(f"/c{i}.mp4") for i in range(3)], clip_frames=[30, 30, 30], context=4,
                       gap=9, replace=True, run_id="v", generator=gen)
        jplan = jrun.plan()
        template = load_template(gen.template) if gen.kind == "template" else None
        for p in [step_prompt(jrun, jplan, s, clip_names, template) for s in join_steps(jplan)] + \
                 [detached_prompt(jrun, jplan, clip_names)]:
            assert validate_prompt(p, info) == [], gen.kind
