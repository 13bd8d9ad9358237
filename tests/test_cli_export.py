"""``--export-prompts DIR``: every step's API prompt as JSON, nothing submitted, no server at all.

The issue-9 recipe end to end: the three-phase Lightning recipe with LoRAs and a reference
image, written as a plan file, exported with ``segue run PLAN --export-prompts DIR``; the JSON has
three KSamplerAdvanced (steps 0-2, 2-4, 4-end; CFG 3/1/1), the LoRAs on the right models and the
reference image wired into the VACE encoder.  Against a real ComfyUI the exported prompts
validate on ``/object_info`` with nothing reported but the model files it does not have.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media import write_clip  # noqa: E402

from segue.orchestration.cli import main  # noqa: E402
from segue.orchestration.server.client import ComfyClient  # noqa: E402
from segue.orchestration.runs.prompts import validate_prompt  # noqa: E402
from segue.video_utils.core.recipe import LAST_STEP  # noqa: E402

MODELS = {"unet": "wan22_high.safetensors", "unet_low": "wan22_low.safetensors", "vae": "wan_2.1_vae.safetensors",
          "clip": "umt5_xxl.safetensors"}
LORAS = ("detail.safetensors", "lightning_high.safetensors", "lightning_low.safetensors")


def lightning_plan(folder: Path) -> Path:
    """The three-phase Lightning recipe (Wan 2.2: high CFG 3 for 2 steps, high + Lightning LoRA,
    low + Lightning LoRA), a run-level LoRA and a reference image, as a plan file."""
    for i in range(3):
        cv2.imwrite(str(folder / f"k{i}.png"), np.full((48, 64, 3), 80 * i, np.uint8))
    cv2.imwrite(str(folder / "ref.png"), np.full((48, 64, 3), 200, np.uint8))
    plan = {"segue_plan": 1, "kind": "travel", "run_id": "lightning", "images": ["k0.png", "k1.png", "k2.png"],
            "segment_frames": 32, "overlap": 8, "prompts": ["dawn", "dusk"],
            "generator": {"kind": "wan22-vace", **MODELS, "steps": 6, "sampler": "euler", "shift": 5.0,
                          "phases": [{"model": "high", "end_step": 2, "cfg": 3},
                                     {"model": "high", "end_step": 4, "cfg": 1,
                                      "loras": [{"name": LORAS[1], "strength": 1.0}]},
                                     {"model": "low", "cfg": 1, "loras": [{"name": LORAS[2], "strength": 1.0}]}],
                          "loras": [f"{LORAS[0]}:0.6"], "reference_image": "ref.png"}}
    path = folder / "lightning.json"
    path.write_text(json.dumps(plan))
    return path


def no_network(monkeypatch):
    """Any socket connection fails the test: export must contact no server."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def model_of(prompt: dict, link) -> str:
    """The UNETLoader a model link comes from, through LoRA and ModelSamplingSD3 nodes, and the
    LoRAs on the way (loader first)."""
    loras = []
    node = prompt[link[0]]
    while node["class_type"] != "UNETLoader":
        if node["class_type"] == "LoraLoaderModelOnly":
            loras.append((node["inputs"]["lora_name"], node["inputs"]["strength_model"]))
        node = prompt[node["inputs"]["model"][0]]
    return node["inputs"]["unet_name"], loras[::-1]


def test_the_lightning_plan_exports_three_phases_loras_and_the_reference(tmp_path, monkeypatch, capsys):
    plan = lightning_plan(tmp_path)
    out = tmp_path / "prompts"
    no_network(monkeypatch)
    assert main(["run", str(plan), "--export-prompts", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "nothing was submitted, no server was contacted" in printed
    assert "not checked without a server: model files" in printed and LORAS[0] in printed
    assert sorted(p.name for p in out.iterdir()) == ["detached.json", "final.json", "inputs.json", "seg_000.json",
                                                     "seg_001.json"]
    for step in ("seg_000", "seg_001"):
        prompt = json.loads((out / f"{step}.json").read_text())
        samplers = sorted((n for n in prompt.values() if n["class_type"] == "KSamplerAdvanced"),
                          key=lambda n: n["inputs"]["start_at_step"])
        assert [(n["inputs"]["start_at_step"], n["inputs"]["end_at_step"], n["inputs"]["cfg"]) for n in samplers] == [
            (0, 2, 3.0), (2, 4, 1.0), (4, LAST_STEP, 1.0)]
        assert [n["inputs"]["add_noise"] for n in samplers] == ["enable", "disable", "disable"]
        assert [n["inputs"]["return_with_leftover_noise"] for n in samplers] == ["enable", "enable", "disable"]
        assert {n["inputs"]["steps"] for n in samplers} == {6} and {n["inputs"]["sampler_name"] for n in samplers} == {"euler"}
        models = [model_of(prompt, n["inputs"]["model"]) for n in samplers]
        assert models == [(MODELS["unet"], [(LORAS[0], 0.6)]),
                          (MODELS["unet"], [(LORAS[0], 0.6), (LORAS[1], 1.0)]),
                          (MODELS["unet_low"], [(LORAS[0], 0.6), (LORAS[2], 1.0)])]
        encode = next(n for n in prompt.values() if n["class_type"] == "SegueVaceEncode")
        reference = prompt[encode["inputs"]["reference_image"][0]]
        assert reference["class_type"] == "SegueLoadImages" and reference["inputs"]["images"].startswith(
            "segue/lightning/ref_000_")
        save = next(n for n in prompt.values() if n["class_type"] == "SegueSaveStep")
        assert save["inputs"]["filename"] == f"segue/lightning/{step}"
    inputs = json.loads((out / "inputs.json").read_text())
    assert inputs["server_folder"] == "input/segue/lightning"
    assert sorted(Path(p).name for p in inputs["inputs"].values()) == ["k0.png", "k1.png", "k2.png", "ref.png"]
    detached = json.loads((out / "detached.json").read_text())
    assert sum(n["class_type"] == "KSamplerAdvanced" for n in detached.values()) == 6
    assert not (tmp_path / "segue_runs").exists()                      # no run directory either


def test_travel_join_and_extend_command_lines_export_without_a_server(tmp_path, monkeypatch, capsys):
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"k{i}.png"), np.full((48, 64, 3), 90 * i, np.uint8))
    clips = [str(write_clip(tmp_path / f"c{i}.mp4", 64, 48, fps=16, frames=30)) for i in range(2)]
    no_network(monkeypatch)
    keys = [str(tmp_path / "k0.png"), str(tmp_path / "k1.png")]
    cases = {
        "travel": (["travel", *keys, "--frames", "20", "--loop", "--run-id", "t"], {"seg_000", "seg_001", "final"}),
        "one-image": (["travel", keys[0], "--frames", "48", "--run-id", "one"], {"seg_000", "final"}),
        "join": (["join", *clips, "--context", "4", "--gap", "9", "--loop", "--run-id", "j"],
                 {"trans_000", "trans_001", "final"}),
        "extend": (["extend", clips[0], "--frames", "100", "--to", keys[1], "--overlap", "4", "--run-id", "e"],
                   {"ext_000", "ext_001", "final"}),
    }
    for name, (argv, steps) in cases.items():
        folder = tmp_path / name
        assert main([*argv, "--out", str(tmp_path / f"{name}.mp4"), "--export-prompts", str(folder)]) == 0, name
        assert {p.stem for p in folder.glob("*.json")} == steps | {"detached", "inputs"}, name
        assert not (tmp_path / f"{name}.mp4").exists()
    capsys.readouterr()
    one = json.loads((tmp_path / "one-image" / "seg_000.json").read_text())
    step = next(n for n in one.values() if n["class_type"] == "SegueTravelStep")["inputs"]
    assert step["segment_frames"] == "48"
    extend = json.loads((tmp_path / "extend" / "ext_001.json").read_text())
    step = next(n for n in extend.values() if n["class_type"] == "SegueExtendStep")["inputs"]
    assert step["previous_files"] == "segue/e/ext_000.mkv [output]" and step["segment_index"] == 1
    assert step["keyframes"][0] in extend                                 # the --to image, loaded once
    final = json.loads((tmp_path / "extend" / "final.json").read_text())
    assemble = next(n for n in final.values() if n["class_type"] == "SegueExtendAssemble")["inputs"]
    assert assemble["keyframe_count"] == 1 and assemble["segment_files"].count("[output]") == 2


def test_join_delivery_options_reach_the_server_prompts(tmp_path, monkeypatch, capsys):
    """``segue join --fps --work-size --retime --gap-audio`` reach the exported prompts as they
    reach the local render: the steps' rate and work size, the assembly's retime and gap audio."""
    clips = [str(write_clip(tmp_path / f"c{i}.mp4", 64, 48, fps=30, frames=40)) for i in range(2)]
    no_network(monkeypatch)
    folder = tmp_path / "prompts"
    assert main(["join", *clips, "--context", "4", "--gap", "9", "--fps", "24", "--work-size", "96x64", "--retime",
                 "nearest", "--gap-audio", "silence", "--run-id", "jd", "--out", str(tmp_path / "o.mp4"),
                 "--export-prompts", str(folder)]) == 0
    capsys.readouterr()
    step = next(n for n in json.loads((folder / "trans_000.json").read_text()).values()
                if n["class_type"] == "SegueJoinStep")["inputs"]
    assert (step["fps"], step["work_width"], step["work_height"]) == (24.0, 96, 64)
    assemble = next(n for n in json.loads((folder / "final.json").read_text()).values()
                    if n["class_type"] == "SegueJoinAssembleFiles")["inputs"]
    assert (assemble["fps"], assemble["retime"], assemble["gap_audio"]) == (24.0, "nearest", "silence")


@pytest.mark.comfyui
def test_exported_prompts_validate_on_a_real_server_but_for_the_model_files(tmp_path, comfy_server, capsys):
    plan = lightning_plan(tmp_path)
    out = tmp_path / "prompts"
    assert main(["run", str(plan), "--export-prompts", str(out)]) == 0
    capsys.readouterr()
    info = ComfyClient(comfy_server.url).object_info()
    problems = set()
    for path in out.glob("*.json"):
        if path.name != "inputs.json":
            problems |= set(validate_prompt(json.loads(path.read_text()), info))
    assert problems, "the server has none of these model files: they must be reported"
    assert all("unknown model file" in p for p in problems), problems
    named = {name for name in (*MODELS.values(), *LORAS) if any(f"'{name}'" in p for p in problems)}
    assert named == {*MODELS.values(), *LORAS}, problems
