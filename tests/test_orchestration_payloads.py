"""The original orchestrator's payloads (spec original-system.md §1.1, §1.2) as Segue runs.

Full payloads with every field of the spec: each field is either carried over (checked here one
by one, down to the exported prompts) or named in a warning saying what happens instead; fields
the spec does not know are named too.  Nothing is dropped silently.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media import write_clip  # noqa: E402

from segue.orchestration.cli import main  # noqa: E402
from segue.orchestration.original import is_orchestrator_payload  # noqa: E402
from segue.orchestration.runs.plan_files import from_orchestrator_payload  # noqa: E402
from segue.orchestration.runs.plan_files import load_plan  # noqa: E402
from segue.orchestration.runs.models import JoinRun, TravelRun  # noqa: E402
from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.recipe import Lora, Phase  # noqa: E402

FILES = dict(unet="high.safetensors", unet_low="low.safetensors", vae="wan_vae.safetensors", clip="umt5.safetensors")
LIGHTNING = {"num_phases": 3, "steps_per_phase": [2, 2, 2], "flow_shift": 5.0, "sample_solver": "euler",
             "model_switch_phase": 2,
             "phases": [{"phase": 1, "guidance_scale": 3.0, "loras": []},
                        {"phase": 2, "guidance_scale": 1.0,
                         "loras": [{"url": "https://huggingface.co/x/resolve/main/lightning_high.safetensors",
                                    "multiplier": "1.0"}]},
                        {"phase": 3, "guidance_scale": 1.0,
                         "loras": [{"url": "https://huggingface.co/x/resolve/main/lightning_low.safetensors",
                                    "multiplier": "0.9,0.8"}, {"url": "", "multiplier": "1"}]}]}


def images(tmp_path, n):
    paths = []
    for i in range(n):
        cv2.imwrite(str(tmp_path / f"k{i}.png"), np.full((48, 64, 3), 70 * i, np.uint8))
        paths.append(str(tmp_path / f"k{i}.png"))
    return paths


def travel_payload(imgs):
    """A travel_orchestrator task with every field of spec §1.1."""
    return {"task_type": "travel_orchestrator", "params": {"orchestrator_details": {
        "input_image_paths_resolved": imgs, "num_new_segments_to_generate": 2,
        "base_prompts_expanded": ["", "a river bend"], "base_prompt": "a valley",
        "negative_prompts_expanded": ["", "blurry"], "negative_prompt": "ugly",
        "enhanced_prompts_expanded": ["the valley at dawn", ""], "enhance_prompt": False,
        "text_before_prompts": "cinematic,", "text_after_prompts": "4k",
        "segment_frames_expanded": [32, 40], "frame_overlap_expanded": [8, 8],
        "parsed_resolution_wh": "832x480", "model_name": "wan_2_2_vace_lightning_baseline_2_2_2", "model_type": "vace",
        "chain_segments": True, "seed_base": 12345, "fps_helpers": 16,
        "subsequent_starting_strength_adjustment": -0.2, "desaturate_subsequent_starting_frames": 0.1,
        "adjust_brightness_subsequent_starting_frames": 0.05, "after_first_post_generation_saturation": 0.9,
        "after_first_post_generation_brightness": 0.02, "crossfade_sharp_amt": 0.3, "regenerate_anchors": True,
        "continue_from_video_resolved_path": None, "upscale_factor": 2.0, "upscale_model_name": "4x.pth",
        "use_svi": False, "svi_strength": 0.5, "svi_strength_1": 0.5, "svi_strength_2": 0.5,
        "phase_config": LIGHTNING, "num_inference_steps": 6, "guidance_scale": 3.0, "flow_shift": 5.0,
        "structure_videos": [], "structure_video_path": "flow.mp4", "structure_guidance": None,
        "stitch_config": {"context": 12, "gap": 19}, "run_id": "legacy-travel", "main_output_dir_for_run": "out",
        "debug_mode_enabled": True, "skip_cleanup_enabled": False, "mask_active_frames": True,
        "colour_match_videos": True,
        "individual_segment_params": [None, {"negative_prompt": "dark", "additional_loras": {
            "https://huggingface.co/x/resolve/main/seg1_style.safetensors": 0.5}}],
        "additional_loras": {"https://huggingface.co/x/resolve/main/detail.safetensors": 0.8},
        "shot_id": "a1b2"}}}


def test_a_full_travel_payload_carries_every_field_over_or_names_it(tmp_path):
    imgs = images(tmp_path, 3)
    run, warnings = from_orchestrator_payload(travel_payload(imgs), base_dir=tmp_path)
    assert isinstance(run, TravelRun) and run.images == imgs
    assert run.prompts == ["cinematic, the valley at dawn 4k", "cinematic, a river bend 4k"]
    assert run.negative_prompts == ["ugly", "dark"]
    assert (run.segment_frames, run.overlap, run.mode) == ([32, 40], 8, "chained")
    assert (run.width, run.height, run.seed, run.seed_mode, run.fps) == (832, 480, 12345, "fixed", 16)
    assert (run.strength, run.desaturate, run.darken, run.sharpen) == (pytest.approx(0.8), 0.1, 0.05, 0.3)
    assert run.run_id == "legacy-travel" and run.output_dir == str(tmp_path / "out")
    gen = run.generator
    assert gen.kind == "wan22-vace"
    recipe = gen.recipe(run.seed, run.seed_mode)
    assert (recipe.steps, recipe.shift, recipe.sampler, recipe.saturation, recipe.brightness) == (6, 5.0, "euler", 0.9, 0.02)
    assert recipe.phases == (Phase("high", 2, 3.0), Phase("high", 4, 1.0, loras=(Lora("lightning_high.safetensors"),)),
                             Phase("low", None, 1.0, loras=(Lora("lightning_low.safetensors", 0.9),)))
    assert recipe.loras == (Lora("detail.safetensors", 0.8),)
    assert recipe.segment_loras == ((), (Lora("seg1_style.safetensors", 0.5),))
    text = "\n".join(warnings)
    for field in ("regenerate_anchors", "upscale_factor", "structure_video_path", "stitch_config",
                  "colour_match_videos", "shot_id", "per-step multipliers", "is a Wan2GP model name",
                  "frame_overlap_expanded has 2 entries"):
        assert field in text, field
    for quiet in ("debug_mode_enabled", "use_svi", "svi_strength", "mask_active_frames", "enhance_prompt",
                  "num_new_segments_to_generate", "continue_from_video_resolved_path"):
        assert quiet not in text, quiet               # honoured as they are (false / restating Segue)
    assert len(warnings) == len(set(warnings))
    with pytest.raises(PlanError, match="needs a model file name for unet"):
        run.validate()                                # the model name is not a file: the files must be added
    for name, value in FILES.items():
        setattr(gen, name, value)
    assert run.validate().total_frames > 0


def test_segue_convert_writes_the_plan_and_run_exports_the_lightning_recipe(tmp_path, capsys):
    imgs = images(tmp_path, 3)
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(travel_payload(imgs)))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in FILES.items()]
    assert main(["convert", str(payload), "--out", str(tmp_path / "plan.json"), *flags]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "segue: warning: regenerate_anchors" in captured.err
    run = load_plan(tmp_path / "plan.json")
    assert run.generator.unet == "high.safetensors" and run.validate()
    # the payload runs directly too, its warnings printed (no server needed to export)
    assert main(["run", str(payload), *flags, "--export-prompts", str(tmp_path / "p")]) == 0
    assert "segue: warning: " in capsys.readouterr().err
    prompt = json.loads((tmp_path / "p" / "seg_001.json").read_text())
    samplers = sorted((n for n in prompt.values() if n["class_type"] == "KSamplerAdvanced"),
                      key=lambda n: n["inputs"]["start_at_step"])
    assert [(n["inputs"]["start_at_step"], n["inputs"]["cfg"]) for n in samplers] == [(0, 3.0), (2, 1.0), (4, 1.0)]
    assert {n["inputs"]["lora_name"] for n in prompt.values() if n["class_type"] == "LoraLoaderModelOnly"} == {
        "detail.safetensors", "lightning_high.safetensors", "lightning_low.safetensors", "seg1_style.safetensors"}
    post = next(n for n in prompt.values() if n["class_type"] == "SegueSaveStep")["inputs"]
    assert (post["saturation"], post["brightness"]) == (0.9, 0.02)      # after the first segment


def join_payload(clips, **extra):
    """A join_clips_orchestrator task with every field of spec §1.2."""
    return {"task_type": "join_clips_orchestrator", "params": {"orchestrator_details": {
        "clip_list": [{"url": clips[0], "name": "morning"}, {"url": clips[1], "name": "noon"},
                      {"url": clips[2], "name": "dusk"}],
        "run_id": "legacy-join", "context_frame_count": 6, "gap_frame_count": 12, "replace_mode": True,
        "prompt": "smooth transition", "negative_prompt": "cuts", "enhance_prompt": True, "vlm_device": "cuda",
        "per_join_settings": [{"gap_frame_count": 17, "prompt": "into noon"}, {"model": "other", "seed": 9}],
        "model": "wan_2_2_vace_lightning_baseline_2_2_2", "aspect_ratio": "1:1", "resolution": [480, 480],
        "use_input_video_resolution": False, "fps": 16, "use_input_video_fps": False, "seed": 77,
        "phase_config": LIGHTNING, "num_inference_steps": 6, "guidance_scale": 3.0,
        "additional_loras": {"style.safetensors": 0.6}, "keep_bridging_images": True, "vid2vid_init_strength": 0.5,
        "audio_url": "https://example.com/music.mp3", "loop_first_clip": True, "output_base_dir": "outj",
        "use_parallel_joins": True, "skip_frame_validation": True, **extra}}}


def test_a_full_join_payload_carries_every_field_over_or_names_it(tmp_path):
    clips = [str(write_clip(tmp_path / f"c{i}.mp4", 64, 48, fps=16, frames=40)) for i in range(3)]
    run, warnings = from_orchestrator_payload(join_payload(clips), base_dir=tmp_path)
    assert isinstance(run, JoinRun) and [c.name for c in run.clips] == ["morning", "noon", "dusk"]
    assert (run.context, run.gap, run.replace, run.prompt, run.negative_prompt) == (6, 12, True, "smooth transition", "cuts")
    assert run.per_join == [{"gap_frame_count": 17, "prompt": "into noon"}, {"seed": 9}]
    assert (run.loop, run.bridging, run.fps, run.seed, run.seed_mode) == (True, True, 16, 77, "fixed")
    assert (run.work_width, run.work_height) == (480, 480)               # the original's generation size
    assert (run.width, run.height, run.fit) == (48, 48, "crop")          # 1:1 centre crop of the 64x48 clips
    assert run.output_dir == str(tmp_path / "outj") and run.run_id == "legacy-join"
    recipe = run.generator.recipe()
    assert run.generator.kind == "wan22-vace" and len(recipe.phases) == 3 and recipe.steps == 6
    assert recipe.loras == (Lora("style.safetensors", 0.6),)
    text = "\n".join(warnings)
    for field in ("enhance_prompt", "per_join_settings[1].model", "vid2vid_init_strength", "audio_url",
                  "loop_first_clip", "skip_frame_validation", "is a Wan2GP model name"):
        assert field in text, field
    for quiet in ("use_parallel_joins", "use_input_video", "vlm_device", "resolution", "aspect_ratio"):
        assert quiet not in text, quiet
    for name, value in FILES.items():
        setattr(run.generator, name, value)
    plan = run.validate()
    assert plan.loop and len(plan.joins) == 3                             # the last clip joined back to the first
    assert plan.joins[0].gap_frames != plan.joins[1].gap_frames           # per-join gap


def test_payload_shapes_and_kinds(tmp_path):
    imgs = images(tmp_path, 2)
    details = {"input_image_paths_resolved": imgs, "segment_frames_expanded": [20], "model_name": "vace_14B"}
    for payload in ({"orchestrator_details": details}, details, {"params": {"orchestrator_details": details}}):
        assert is_orchestrator_payload(payload)
        run, warnings = from_orchestrator_payload(payload)
        assert run.generator.kind == "wan21-vace" and run.segment_frames == [20]
    assert not is_orchestrator_payload({"segue_plan": 1, "kind": "travel", "images": imgs})
    with pytest.raises(PlanError, match="is a travel payload, not join"):
        from_orchestrator_payload({"task_type": "travel_orchestrator", "orchestrator_details": details}, "join")
    with pytest.raises(PlanError, match="segment_task_ids"):
        from_orchestrator_payload({"segment_task_ids": ["t1", "t2"]}, "join")


def test_overlap_zero_is_a_hard_cut_at_the_keyframe(tmp_path):
    imgs = images(tmp_path, 3)
    run, warnings = from_orchestrator_payload({"input_image_paths_resolved": imgs, "segment_frames_expanded": [20, 20],
                                               "frame_overlap_expanded": 0, "model_name": "vace_14B"})
    assert run.overlap == 1 and any("hard cut" in w for w in warnings)
    run.generator.unet, run.generator.vae, run.generator.clip = "u", "v", "c"
    plan = run.validate()
    assert plan.overlaps == [1] and plan.keyframe_frames == [0, 20, 40]
