"""Plans -> the orchestrator's API prompts: format, exact file names, chaining through files,
generators, joins, the detached whole-run prompt, templates and validation against /object_info.

The prompts come from the one builder (video_utils.core.chains): per segment SegueTravelStep ->
the recipe's chain (SeguePreviewStep, or SegueVaceEncode -> KSampler(s) -> TrimVideoLatent ->
SegueSaveStep) with the saving node's id ``save``; the final ``stitch`` / ``assemble``.  The
object_info here is a minimal contract of the nodes these prompts use; test_recipes_comfyui checks
it against a real server's.
"""

import json

import av
import numpy as np
import pytest
import torch

from segue.video_utils.core import parse
from segue.orchestration.runs.prompts import (detached_prompt, join_per_join_json, load_template, saving_nodes,
                                              step_prompt, validate_prompt)
from segue.orchestration.runs.models import run_from_dict
from segue.orchestration.runs.models import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.runs.steps import join_steps, travel_steps
from segue.video_utils.core.errors import PlanError
from segue.video_utils.engine.guides import OverlapAdjust
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.step_settings import PostSettings
from segue.video_utils.engine.postprocess import finish_frames
from segue.video_utils.engine.steps import JoinStep, TravelStep

KEYS = [f"segue/r1/key_{i:03d}.png [input]" for i in range(4)]
CLIPS = [f"segue/j1/clip_{i:03d}.mp4 [input]" for i in range(3)]
WAN21 = GeneratorConfig.from_name("wan21-vace", unet="wan_vace.safetensors", vae="wan_vae.safetensors",
                                  clip="umt5.safetensors", steps=4)
WAN22 = GeneratorConfig.from_name("wan22-vace", unet="high.safetensors", unet_low="low.safetensors",
                                  vae="wan_vae.safetensors", clip="umt5.safetensors", steps=6, split_step=2)

# --- a minimal /object_info of the nodes the prompts use ---------------------------------------------
I, F, S, B = "INT", "FLOAT", "STRING", "BOOLEAN"
SAMPLERS, SCHEDULERS = ["uni_pc", "euler"], ["simple", "normal", "beta"]
COLOUR = {"colour_match": ["none", "previous", "first_keyframe"], "colour_method": ["lab", "rgb"],
          "colour_strength": F, "saturation": F, "brightness": F}
TARGET = {"filename": S, "folder": ["temp", "output"]}
FITS, RETIME = ["crop", "pad", "stretch"], ["nearest", "blend"]
ENCODE = {"curve": ["cosine", "linear"], "sharpen": F, "crf": I,
          "preset": ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]}
# class: (required {name: type or combo options}, optional {...}, outputs)
CONTRACT = {
    "SegueLoadImages": ({"images": S, "width": I, "height": I, "fit": ["crop", "stretch"]}, {},
                        ["IMAGE", "INT", "INT", "INT"]),
    "SegueLoadVideo": ({"video": S, "start": I, "frame_count": I, "last_frames": I}, {},
                       ["IMAGE", "FLOAT", "INT", "VIDEO", "AUDIO"]),
    "SegueTravelStep": ({"keyframes": "IMAGE", "segment_index": I, "segment_frames": S, "overlap": S,
                         "mode": ["chained", "independent"], "exact_keyframes": B},
                        {"loop": B, "previous_video": "VIDEO", "first_video": "VIDEO", "strength": F, "desaturate": F,
                         "darken": F}, ["SEGUE_STEP"]),
    "SegueJoinStep": ({"clip_files": S, "join_index": I, "context": I, "gap": I, "replace": B, "blend": I,
                       "per_join": S, "bridging": B, "width": I, "height": I, "fit": FITS, "fps": F},
                      {"loop": B, "work_width": I, "work_height": I, "generation_fps": F}, ["SEGUE_STEP"]),
    "SegueExtendStep": ({"clip_file": S, "segment_index": I, "frames": S, "overlap": I, "max_generation": I},
                        {"blend": I, "keyframes": "IMAGE", "previous_files": S, "previous_video": "VIDEO",
                         "strength": F, "desaturate": F, "darken": F}, ["SEGUE_STEP"]),
    "SegueStepGuide": ({"step": "SEGUE_STEP"}, {}, ["IMAGE", "MASK", "INT", "INT", "INT", "INT"]),
    "SegueVaceEncode": ({"positive": "CONDITIONING", "negative": "CONDITIONING", "vae": "VAE", "step": "SEGUE_STEP",
                         "strength": F}, {"reference_image": "IMAGE"},
                        ["CONDITIONING", "CONDITIONING", "LATENT", "INT"]),
    "SegueFirstLastEncode": ({"positive": "CONDITIONING", "negative": "CONDITIONING", "vae": "VAE",
                              "step": "SEGUE_STEP"}, {"clip_vision": "CLIP_VISION"},
                             ["CONDITIONING", "CONDITIONING", "LATENT"]),
    "SegueSaveStep": ({"step": "SEGUE_STEP", **TARGET, **COLOUR},
                      {"samples": "LATENT", "vae": "VAE", "images": "IMAGE"}, ["VIDEO"]),
    "SeguePreviewStep": ({"step": "SEGUE_STEP", "method": ["flow", "blend"], **TARGET, **COLOUR}, {}, ["VIDEO"]),
    "SegueFileList": ({"video": "VIDEO"}, {"files": S}, ["STRING"]),
    "SegueStitchFiles": ({"segment_files": S, "overlaps": S, "trim_start": I, "fps": F, "filename": S, **ENCODE},
                         {"filename_prefix": S, "after": "VIDEO", "output_fps": F, "width": I, "height": I,
                          "retime": RETIME, "loop": B, "soundtrack": S, "fit": FITS}, ["VIDEO"]),
    "SegueJoinAssembleFiles": ({"clip_files": S, "transition_files": S, "context": I, "gap": I, "replace": B,
                                "blend": I, "per_join": S, "fps": F, "filename": S, "crf": I,
                                "preset": ENCODE["preset"], "keep_audio": B, "width": I, "height": I, "fit": FITS},
                               {"filename_prefix": S, "curve": ENCODE["curve"], "sharpen": F, "loop": B,
                                "after": "VIDEO", "gap_audio": ["crossfade", "cut", "silence"], "generation_fps": F,
                                "retime": RETIME}, ["VIDEO"]),
    "SegueExtendAssemble": ({"clip_file": S, "segment_files": S, "frames": S, "overlap": I, "max_generation": I,
                             "keyframe_count": I, "filename": S, "crf": I, "preset": ENCODE["preset"], "keep_audio": B},
                            {"blend": I, "filename_prefix": S, "curve": ENCODE["curve"], "sharpen": F,
                             "after": "VIDEO"}, ["VIDEO"]),
    "UNETLoader": ({"unet_name": ["wan_vace.safetensors", "high.safetensors", "low.safetensors"],
                    "weight_dtype": ["default", "fp8_e4m3fn"]}, {}, ["MODEL"]),
    "VAELoader": ({"vae_name": ["wan_vae.safetensors"]}, {}, ["VAE"]),
    "CLIPLoader": ({"clip_name": ["umt5.safetensors"], "type": ["stable_diffusion", "wan"]}, {"device": ["default"]},
                   ["CLIP"]),
    "CLIPVisionLoader": ({"clip_name": ["clip_vision_h.safetensors"]}, {}, ["CLIP_VISION"]),
    "LoraLoaderModelOnly": ({"model": "MODEL", "lora_name": ["style.safetensors", "lightning.safetensors"],
                             "strength_model": F}, {}, ["MODEL"]),
    "ModelSamplingSD3": ({"model": "MODEL", "shift": F}, {}, ["MODEL"]),
    "CLIPTextEncode": ({"text": S, "clip": "CLIP"}, {}, ["CONDITIONING"]),
    "KSampler": ({"model": "MODEL", "seed": I, "steps": I, "cfg": F, "sampler_name": SAMPLERS,
                  "scheduler": SCHEDULERS, "positive": "CONDITIONING", "negative": "CONDITIONING",
                  "latent_image": "LATENT", "denoise": F}, {}, ["LATENT"]),
    "KSamplerAdvanced": ({"model": "MODEL", "add_noise": ["enable", "disable"], "noise_seed": I, "steps": I, "cfg": F,
                          "sampler_name": SAMPLERS, "scheduler": SCHEDULERS, "positive": "CONDITIONING",
                          "negative": "CONDITIONING", "latent_image": "LATENT", "start_at_step": I, "end_at_step": I,
                          "return_with_leftover_noise": ["disable", "enable"]}, {}, ["LATENT"]),
    "TrimVideoLatent": ({"samples": "LATENT", "trim_amount": I}, {}, ["LATENT"]),
    "WanVaceToVideo": ({"positive": "CONDITIONING", "negative": "CONDITIONING", "vae": "VAE", "width": I,
                        "height": I, "length": I, "batch_size": I, "strength": F},
                       {"control_video": "IMAGE", "control_masks": "MASK", "reference_image": "IMAGE"},
                       ["CONDITIONING", "CONDITIONING", "LATENT", "INT"]),
    "VAEDecode": ({"samples": "LATENT", "vae": "VAE"}, {}, ["IMAGE"]),
    "SegueTestRandomConditioning": ({"seed": I, "tokens": I}, {}, ["CONDITIONING"]),
}
TEST_ONLY = {"SegueTestRandomConditioning"}     # a test node of the harness (tests/comfy_test_nodes)


def object_info(contract: dict = CONTRACT) -> dict:
    """``/object_info`` in the server's shape (V3 combos as ``["COMBO", {"options": [...]}]``)."""
    def spec(kind):
        return [kind, {}] if isinstance(kind, str) else ["COMBO", {"options": list(kind)}]
    return {cls: {"input": {"required": {k: spec(v) for k, v in req.items()},
                            "optional": {k: spec(v) for k, v in opt.items()}},
                  "output": list(outs), "name": cls}
            for cls, (req, opt, outs) in contract.items()}


INFO = object_info()


# --- helpers -------------------------------------------------------------------------------------------

def travel(tmp_path, **kw):
    paths = []
    for i in range(4):
        (tmp_path / f"k{i}.png").write_bytes(b"png")
        paths.append(str(tmp_path / f"k{i}.png"))
    kw.setdefault("prompts", ["one", "two", "three"])
    kw.setdefault("segment_frames", 16)
    run = TravelRun(images=paths, overlap=4, run_id="r1", **kw)
    return run, run.validate()


def join_run(**kw):
    kw.setdefault("clip_frames", [40, 30, 40])
    run = JoinRun(clips=[ClipRef(f"/x/c{i}.mp4", f"c{i}") for i in range(len(kw["clip_frames"]))], context=4, gap=9,
                  run_id="j1", fps=16.0, **kw)
    return run, run.plan()


def links(prompt):
    for node_id, node in prompt.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                yield node_id, name, value


def check_format(prompt, info=INFO):
    """String ids, [str id, int] links to existing nodes, no None values, JSON-serialisable, and
    nothing the server's /object_info would refuse."""
    json.dumps(prompt)
    for node_id, node in prompt.items():
        assert isinstance(node_id, str) and set(node) <= {"class_type", "inputs", "_meta"}
        assert all(v is not None for v in node["inputs"].values())
    for node_id, name, value in links(prompt):
        assert len(value) == 2 and isinstance(value[0], str) and type(value[1]) is int, (node_id, name, value)
        assert value[0] in prompt, (node_id, name, value)
    assert validate_prompt(prompt, info) == []


def by_class(prompt, cls):
    return [(k, n) for k, n in prompt.items() if n["class_type"] == cls]


# --- travels -------------------------------------------------------------------------------------------

def test_travel_step_prompts_have_exact_names_and_chain_through_files(tmp_path):
    run, plan = travel(tmp_path, width=64, height=48, fit="stretch")
    steps = travel_steps(plan)
    assert [s.file for s in steps] == ["seg_000.mkv", "seg_001.mkv", "seg_002.mkv", "final.mp4"]
    assert [s.depends_on for s in steps] == [(), ("seg_000",), ("seg_001",), ("seg_000", "seg_001", "seg_002")]
    prompts = {s.id: step_prompt(run, plan, s, KEYS) for s in steps}
    for p in prompts.values():
        check_format(p)
    for step in steps[:-1]:
        p = prompts[step.id]
        assert saving_nodes(step, detached=False) == {"save": step.id}
        save = p["save"]
        assert save["class_type"] == "SeguePreviewStep" and save["inputs"]["step"] == ["step", 0]
        assert (save["inputs"]["filename"], save["inputs"]["folder"]) == (f"segue/r1/{step.stem}", "output")
        node = p["step"]
        assert node["class_type"] == "SegueTravelStep" and node["inputs"]["segment_index"] == step.index
        assert node["inputs"]["keyframes"] == ["keyframes", 0]
        assert (node["inputs"]["segment_frames"], node["inputs"]["overlap"], node["inputs"]["mode"]) == \
               ("16", "4", "chained")
        assert node["inputs"]["exact_keyframes"] is False
        (_, keys), = by_class(p, "SegueLoadImages")
        assert keys["inputs"] == {"images": "\n".join(KEYS), "width": 64, "height": 48, "fit": "stretch"}
    assert not by_class(prompts["seg_000"], "SegueLoadVideo")
    assert "previous_video" not in prompts["seg_000"]["step"]["inputs"]
    for i in (1, 2):
        p = prompts[f"seg_00{i}"]
        (load_id, load), = by_class(p, "SegueLoadVideo")
        # the previous segment is read as its file-backed VIDEO (output 3); the step reads its last frames
        assert load["inputs"]["video"] == f"segue/r1/seg_00{i - 1}.mkv [output]"
        assert (load["inputs"]["start"], load["inputs"]["frame_count"]) == (0, 0)
        assert p["step"]["inputs"]["previous_video"] == [load_id, 3]
        assert INFO["SegueLoadVideo"]["output"][3] == "VIDEO"
    stitch = prompts["final"]["stitch"]["inputs"]
    assert saving_nodes(steps[-1], detached=False) == {"stitch": "final", "assemble": "final"}
    assert stitch["segment_files"].splitlines() == [f"segue/r1/seg_00{i}.mkv [output]" for i in range(3)]
    assert (stitch["overlaps"], stitch["filename"], stitch["trim_start"], stitch["fps"]) == \
           ("4, 4", "segue/r1/final", 0, 16.0)
    assert list(prompts["final"]) == ["stitch"]


def test_independent_segments_read_no_previous_file_and_the_lead_in_is_trimmed_at_save(tmp_path):
    run, plan = travel(tmp_path, mode="independent", exact_keyframes=True, segment_frames=18)
    steps = travel_steps(plan)
    assert all(not s.depends_on for s in steps[:-1]) and steps[-1].depends_on == ("seg_000", "seg_001", "seg_002")
    for s in steps[:-1]:
        p = step_prompt(run, plan, s, KEYS)
        check_format(p)
        assert not by_class(p, "SegueLoadVideo") and "previous_video" not in p["step"]["inputs"]
        assert p["step"]["inputs"]["mode"] == "independent" and p["step"]["inputs"]["exact_keyframes"] is True
    seg = plan.segments[0]
    assert seg.trim_start > 0 and steps[0].frames == seg.generate_frames - seg.trim_start
    # The saving node trims by the step it is given: the planned lead-in, no more, no less.
    keyframes = torch.rand(4, 16, 16, 3)
    step = TravelStep(plan, 0, keyframes, None, OverlapAdjust())
    generated = torch.rand(seg.generate_frames, 16, 16, 3)
    saved = finish_frames(generated, step, PostSettings())
    assert saved.shape[0] == steps[0].frames and torch.equal(saved, generated[seg.trim_start:])
    with pytest.raises(PlanError, match=f"planned {seg.generate_frames} frames but the generator returned"):
        finish_frames(generated[1:], step, PostSettings())


def test_wan21_chain(tmp_path):
    run, plan = travel(tmp_path, generator=WAN21, seed=5, seed_mode="increment")
    p = step_prompt(run, plan, travel_steps(plan)[1], KEYS)
    check_format(p)
    assert p["encode"]["class_type"] == "SegueVaceEncode" and p["encode"]["inputs"]["step"] == ["step", 0]
    assert p["encode"]["inputs"]["vae"] == ["vae", 0]
    (_, ks), = by_class(p, "KSampler")
    assert ks["inputs"]["seed"] == 6 and ks["inputs"]["steps"] == 4 and ks["inputs"]["latent_image"] == ["encode", 2]
    assert p[ks["inputs"]["model"][0]]["class_type"] == "ModelSamplingSD3"
    (trim_id, trim), = by_class(p, "TrimVideoLatent")
    assert trim["inputs"]["trim_amount"] == ["encode", 3]
    assert p["save"]["class_type"] == "SegueSaveStep"
    assert p["save"]["inputs"]["samples"] == [trim_id, 0] and p["save"]["inputs"]["vae"] == ["vae", 0]
    texts = {n["inputs"]["text"] for _, n in by_class(p, "CLIPTextEncode")}
    assert texts == {"two", ""}
    (_, clip), = by_class(p, "CLIPLoader")
    assert clip["inputs"] == {"clip_name": "umt5.safetensors", "type": "wan"}
    (_, unet), = by_class(p, "UNETLoader")
    assert unet["inputs"] == {"unet_name": "wan_vace.safetensors", "weight_dtype": "default"}


def test_wan22_uses_two_experts_split_at_the_step(tmp_path):
    run, plan = travel(tmp_path, generator=WAN22)
    p = step_prompt(run, plan, travel_steps(plan)[0], KEYS)
    check_format(p)
    unets = {k: n["inputs"]["unet_name"] for k, n in by_class(p, "UNETLoader")}
    assert sorted(unets.values()) == ["high.safetensors", "low.safetensors"]
    high, low = sorted((n for _, n in by_class(p, "KSamplerAdvanced")), key=lambda n: n["inputs"]["start_at_step"])
    assert (high["inputs"]["start_at_step"], high["inputs"]["end_at_step"]) == (0, 2)
    assert high["inputs"]["add_noise"] == "enable" and high["inputs"]["return_with_leftover_noise"] == "enable"
    assert (low["inputs"]["start_at_step"], low["inputs"]["add_noise"]) == (2, "disable")
    assert p[low["inputs"]["latent_image"][0]] is high
    for sampler, name in ((high, "high.safetensors"), (low, "low.safetensors")):
        patch = p[sampler["inputs"]["model"][0]]
        assert patch["class_type"] == "ModelSamplingSD3" and unets[patch["inputs"]["model"][0]] == name


def test_per_segment_reference_images(tmp_path):
    for name in ("ref_a.png", "ref_b.png"):
        (tmp_path / name).write_bytes(b"png")
    gen = GeneratorConfig.from_dict({**WAN21.to_dict(), "reference_image": str(tmp_path / "ref_a.png"),
                                     "segment_reference_images": [None, str(tmp_path / "ref_b.png")]})
    run, plan = travel(tmp_path, generator=gen)
    refs = ["segue/r1/ref_000.png [input]", "segue/r1/ref_001.png [input]"]
    steps = travel_steps(plan)
    for index, expected in ((0, refs[0]), (1, refs[1]), (2, refs[0])):
        p = step_prompt(run, plan, steps[index], KEYS + refs)
        check_format(p)
        assert p["reference"]["inputs"]["images"] == expected
        assert p["encode"]["inputs"]["reference_image"] == ["reference", 0]
    whole = detached_prompt(run, plan, KEYS + refs)
    check_format(whole)
    assert whole["reference"]["inputs"]["images"].splitlines() == [refs[0], refs[1], refs[0]]


# --- joins ---------------------------------------------------------------------------------------------

def write_clip(path, frames, base):
    """Lossless 16x16 clip whose frame k is the grey level base + k (frame identity survives)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=16)
        s.width = s.height = 16
        s.pix_fmt = "bgr0"
        for k in range(frames):
            img = np.full((16, 16, 3), base + k, np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def test_join_transitions_replan_exactly_the_runs_joins(tmp_path):
    run, plan = join_run(replace=True, per_join=[{}, {"gap": 13, "prompt": "second"}])
    assert plan.joins[0].trim_from_a > 0 and plan.joins[1].gap_frames == 13
    steps = join_steps(plan)
    assert [s.file for s in steps] == ["trans_000.mkv", "trans_001.mkv", "final.mp4"]
    assert all(not s.depends_on for s in steps[:-1])
    for j, spec in enumerate(plan.joins):
        p = step_prompt(run, plan, steps[j], CLIPS)
        check_format(p)
        node = p["step"]["inputs"]
        assert node["clip_files"].splitlines() == CLIPS and node["join_index"] == j
        assert node["replace"] is True and node["bridging"] is False
        # SegueJoinStep plans from these inputs (nodes/step_nodes.join_plan_from): this very join
        replanned = plan_join(run.clip_frames, context=node["context"], gap=node["gap"], replace=node["replace"],
                              blend=None if node["blend"] < 0 else node["blend"],
                              per_join=parse.per_join_overrides(node["per_join"]), loop=node.get("loop", False))
        assert replanned.joins == plan.joins and replanned.clips == plan.clips
        assert steps[j].frames == spec.generation_frames
        assert p["save"]["inputs"]["filename"] == f"segue/j1/trans_{j:03d}"
        assert saving_nodes(steps[j], detached=False) == {"save": f"trans_{j:03d}"}
    final = step_prompt(run, plan, steps[-1], CLIPS)
    check_format(final)
    asm = final["assemble"]["inputs"]
    assert asm["clip_files"].splitlines() == CLIPS
    assert asm["transition_files"].splitlines() == ["segue/j1/trans_000.mkv [output]",
                                                    "segue/j1/trans_001.mkv [output]"]
    assert json.loads(asm["per_join"]) == json.loads(join_per_join_json(plan)) and len(json.loads(asm["per_join"])) == 2
    assert asm["blend"] == plan.joins[0].blend_frames and asm["keep_audio"] is True
    assert asm["filename"] == "segue/j1/final" and asm["fps"] == 16.0


def test_join_step_reads_exactly_the_planned_windows(tmp_path):
    """The windows the transition is generated from are the plan's: A's frames from
    context_a_start, B's first frames (real lossless clips, frame k = grey level base + k)."""
    run, plan = join_run(replace=True, clip_frames=[40, 30, 40])
    paths = []
    for i, (frames, base) in enumerate(zip(run.clip_frames, (0, 100, 180))):
        paths.append(str(tmp_path / f"c{i}.mkv"))
        write_clip(paths[-1], frames, base)
    node = step_prompt(run, plan, join_steps(plan)[0], CLIPS)["step"]["inputs"]
    replanned = plan_join(run.clip_frames, context=node["context"], gap=node["gap"], replace=node["replace"],
                          blend=None if node["blend"] < 0 else node["blend"],
                          per_join=parse.per_join_overrides(node["per_join"]))
    for spec in plan.joins:
        a, b = JoinStep(replanned, spec.index, paths, 16, 16).contexts()
        base_a, base_b = (0, 100, 180)[spec.index], (0, 100, 180)[spec.index + 1]
        levels_a = [round(float(f.mean()) * 255) - base_a for f in a]
        levels_b = [round(float(f.mean()) * 255) - base_b for f in b]
        assert levels_a == list(range(spec.context_a_start, spec.context_a_start + spec.context_frames_a))
        assert levels_b == list(range(spec.context_b_start, spec.context_b_start + spec.context_frames_b))


def test_join_saturation_applies_to_every_transition():
    gen = GeneratorConfig.from_name("preview", saturation=0.8)
    run, plan = join_run(generator=gen)
    for step in join_steps(plan)[:-1]:
        assert step_prompt(run, plan, step, CLIPS)["save"]["inputs"]["saturation"] == 0.8


def test_per_join_seed_overrides_reach_the_detached_prompt_too():
    run, plan = join_run(generator=WAN21, seed=3, per_join=[{"seed": 99}, {}])
    steps = join_steps(plan)
    stepped = [step_prompt(run, plan, s, CLIPS)["sample"]["inputs"]["seed"] for s in steps[:-1]]
    assert stepped == [99, 4]
    whole = detached_prompt(run, plan, CLIPS)
    assert [whole[f"join_{j:03d}.sample"]["inputs"]["seed"] for j in range(2)] == stepped


# --- the detached whole-run prompt ---------------------------------------------------------------------

def test_detached_prompt_orders_everything_through_links(tmp_path):
    run, plan = travel(tmp_path)
    p = detached_prompt(run, plan, KEYS)
    check_format(p)
    assert len(by_class(p, "SegueLoadImages")) == 1 and not by_class(p, "SegueLoadVideo")
    assert "previous_video" not in p["seg_000.step"]["inputs"]
    assert p["seg_001.step"]["inputs"]["previous_video"] == ["seg_000.save", 0]
    assert p["seg_002.step"]["inputs"]["previous_video"] == ["seg_001.save", 0]
    for s in travel_steps(plan)[:-1]:
        (saver,) = saving_nodes(s, detached=True)
        assert saver == f"seg_{s.index:03d}.save" and p[saver]["inputs"]["filename"] == f"segue/r1/{s.stem}"
    stitch = p["stitch"]["inputs"]
    assert stitch["segment_files"] == ["seg_002.list", 0] and stitch["filename"] == "segue/r1/final"
    # The file list chains every save, so the stitch depends on all of them, in order.
    node, seen = p["seg_002.list"], []
    while True:
        seen.append(node["inputs"]["video"][0])
        if "files" not in node["inputs"]:
            break
        node = p[node["inputs"]["files"][0]]
    assert seen == ["seg_002.save", "seg_001.save", "seg_000.save"]
    jrun, jplan = join_run()
    jp = detached_prompt(jrun, jplan, CLIPS)
    check_format(jp)
    assert jp["assemble"]["inputs"]["transition_files"] == ["join_001.list", 0]
    assert jp["join_001.list"]["inputs"]["files"] == ["join_000.list", 0]
    assert saving_nodes(join_steps(jplan)[1], detached=True) == {"join_001.save": "trans_001"}
    assert jp["join_001.save"]["inputs"]["filename"] == "segue/j1/trans_001"


def test_loaders_are_shared_in_the_whole_run_graph(tmp_path):
    run, plan = travel(tmp_path, generator=WAN21, prompts="same")
    p = detached_prompt(run, plan, KEYS)
    check_format(p)
    assert len(by_class(p, "UNETLoader")) == len(by_class(p, "VAELoader")) == len(by_class(p, "CLIPLoader")) == 1
    assert len(by_class(p, "ModelSamplingSD3")) == 1 and len(by_class(p, "CLIPTextEncode")) == 2
    assert len(by_class(p, "KSampler")) == len(by_class(p, "SegueVaceEncode")) == 3
    run2, plan2 = travel(tmp_path, generator=WAN22)
    p2 = detached_prompt(run2, plan2, KEYS)
    check_format(p2)
    assert len(by_class(p2, "UNETLoader")) == 2 and len(by_class(p2, "ModelSamplingSD3")) == 2
    assert len(by_class(p2, "KSamplerAdvanced")) == 6 and len(by_class(p2, "CLIPTextEncode")) == 4


# --- templates -----------------------------------------------------------------------------------------

def write_template(tmp_path, extra=None):
    template = {
        "5": {"class_type": "SegueGuideSlot", "inputs": {}},
        "6": {"class_type": "WanVaceToVideo", "inputs": {
            "positive": ["8", 0], "negative": ["9", 0], "vae": ["11", 0], "control_video": ["5", 0],
            "control_masks": ["5", 1], "length": ["5", 2], "width": ["5", 3], "height": ["5", 4], "batch_size": 1,
            "strength": 1.0}},
        "7": {"class_type": "SegueFramesSlot", "inputs": {"images": ["12", 0]}},
        "8": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": "{{seed}}", "tokens": 8},
              "_meta": {"title": "cond"}},
        "9": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}, not {{negative_prompt}} ({{index}})",
                                                         "clip": ["10", 0]}},
        "10": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5.safetensors", "type": "wan"}},
        "11": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_vae.safetensors"}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 2], "vae": ["11", 0]}},
    }
    template.update(extra or {})
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path


def test_template_is_spliced_with_prefixed_ids_and_filled_placeholders(tmp_path):
    path = write_template(tmp_path)
    run, plan = travel(tmp_path, generator=GeneratorConfig.from_name(str(path)), seed=3, seed_mode="increment",
                       negative_prompts="blur")
    assert run.generator.kind == "template"
    template = load_template(path)
    p = step_prompt(run, plan, travel_steps(plan)[2], KEYS, template)
    check_format(p)
    assert not by_class(p, "SegueGuideSlot") and not by_class(p, "SegueFramesSlot")
    assert p["guide"] == {"class_type": "SegueStepGuide", "inputs": {"step": ["step", 0]}}
    vace = p["tpl.6"]["inputs"]
    assert [vace[k] for k in ("control_video", "control_masks", "length", "width", "height")] == \
           [["guide", i] for i in range(5)]
    assert p["save"]["class_type"] == "SegueSaveStep" and p["save"]["inputs"]["images"] == ["tpl.12", 0]
    assert p["tpl.8"]["inputs"]["seed"] == 5                     # exactly "{{seed}}" -> a number
    assert p["tpl.9"]["inputs"] == {"text": "three, not blur (2)", "clip": ["tpl.10", 0]}
    assert p["tpl.8"]["_meta"] == {"title": "cond"}
    whole = detached_prompt(run, plan, KEYS)
    check_format(whole)
    assert {"seg_000.tpl.6", "seg_001.tpl.6", "seg_002.tpl.6"} <= set(whole)
    assert [whole[f"seg_00{i}.tpl.8"]["inputs"]["seed"] for i in range(3)] == [3, 4, 5]
    assert whole["seg_001.save"]["inputs"]["images"] == ["seg_001.tpl.12", 0]


def test_a_plan_file_with_a_template_generator_loads(tmp_path):
    path = write_template(tmp_path)
    run = run_from_dict({"kind": "travel", "images": ["a.png", "b.png"],
                         "generator": {"kind": "template", "template": path.name}}, tmp_path)
    assert run.generator.template == str(path)


@pytest.mark.parametrize("template, message", [
    ({"nodes": [], "links": []}, "UI workflow"),
    ({"1": {"class_type": "SegueFramesSlot", "inputs": {"images": ["2", 0]}},
      "2": {"class_type": "VAEDecode", "inputs": {}}}, "0 SegueGuideSlot"),
    ({"1": {"class_type": "SegueGuideSlot", "inputs": {}}, "3": {"class_type": "SegueGuideSlot", "inputs": {}},
      "2": {"class_type": "SegueFramesSlot", "inputs": {"images": ["1", 0]}}}, "2 SegueGuideSlot"),
    ({"1": {"class_type": "SegueGuideSlot", "inputs": {}}}, "0 SegueFramesSlot"),
    ({"1": {"class_type": "SegueGuideSlot", "inputs": {}},
      "2": {"class_type": "SegueFramesSlot", "inputs": {"images": "x"}}}, "must be linked"),
    ({"1": {"class_type": "SegueGuideSlot", "inputs": {}},
      "2": {"class_type": "SegueFramesSlot", "inputs": {"images": ["9", 0]}}}, "must be linked"),
    ([1, 2], "not an API-format prompt"),
    ({}, "not an API-format prompt"),
])
def test_bad_templates_are_refused(tmp_path, template, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    with pytest.raises(PlanError, match=message):
        load_template(path)


def test_unreadable_templates_are_refused(tmp_path):
    with pytest.raises(PlanError, match="cannot be read"):
        load_template(tmp_path / "missing.json")
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(PlanError, match="is not JSON"):
        load_template(tmp_path / "t.json")


# --- validation against /object_info -------------------------------------------------------------------

def test_validation_reports_unknown_model_files_classes_inputs_and_links(tmp_path):
    gen = GeneratorConfig.from_name("wan21-vace", unet="missing.safetensors", vae="wan_vae.safetensors",
                                    clip="umt5.safetensors", loras=[{"name": "nolora.safetensors", "strength": 1}])
    run, plan = travel(tmp_path, generator=gen)
    p = step_prompt(run, plan, travel_steps(plan)[0], KEYS)
    errors = validate_prompt(p, INFO, "gpu1:8188")
    assert len(errors) == 2, errors
    assert errors[0].startswith("unknown model file 'missing.safetensors' for UNETLoader.unet_name on gpu1:8188")
    assert "models/diffusion_models" in errors[0] and "--unet" in errors[0]
    assert errors[1].startswith("unknown model file 'nolora.safetensors' for LoraLoaderModelOnly.lora_name")
    assert "models/loras" in errors[1] and "style.safetensors" in errors[1]

    info = {k: v for k, v in INFO.items() if k != "SegueTravelStep"}
    assert any("SegueTravelStep is not installed on the server: install/update the Segue pack" in e
               for e in validate_prompt(p, info))
    info = {k: v for k, v in INFO.items() if k != "TrimVideoLatent"}
    assert any("TrimVideoLatent is not installed on the server: install the node pack" in e
               for e in validate_prompt(p, info))

    bad = json.loads(json.dumps(p))
    bad["save"]["inputs"]["colour"] = 1                       # not declared
    bad["save"]["inputs"]["saturation"] = "1"                 # not a number
    bad["step"]["inputs"]["exact_keyframes"] = "false"        # not a JSON boolean
    bad["save"]["inputs"]["vae"] = ["step", 0]                # a SEGUE_STEP into a VAE input
    bad["encode"]["inputs"]["step"] = ["nowhere", 0]          # a missing node
    bad["trim"]["inputs"]["trim_amount"] = ["encode", 4]      # an output the encoder does not have
    bad["sample"]["inputs"]["sampler_name"] = "dpm_9"         # not one of the combo's options
    del bad["sample"]["inputs"]["cfg"]                        # a required input missing
    errors = "\n".join(validate_prompt(bad, INFO))
    assert "input 'colour' is not declared by SegueSaveStep" in errors
    assert "saturation='1' must be a number" in errors and "must be a JSON boolean" in errors
    assert "input vae expects VAE but output 0 of step (SegueTravelStep) is SEGUE_STEP" in errors
    assert "input step links to node 'nowhere', which is not in the prompt" in errors
    assert "links to output 4 of encode (SegueVaceEncode has 4 outputs)" in errors
    assert "sampler_name='dpm_9' is not one of: uni_pc, euler" in errors
    assert "required input 'cfg' is missing" in errors
    assert len(validate_prompt(bad, INFO)) == 8 + 2         # and the two unknown files
