"""Bad inputs sent straight to a real ComfyUI's ``/prompt`` (no frontend to range-check them).

ComfyUI's API has no authentication: whoever reaches the server can send any value to any node,
including NaN (Python's JSON parser accepts it and NaN passes every min/max comparison), lone
UTF-16 surrogates (``"\\ud800"``), megabyte strings, damaged files and values the widgets would
never produce.  Each case below changes ONE input of a working prompt (``node_prompts``) and
requires that

* the prompt is refused at ``/prompt`` (HTTP 400, ``node_errors`` naming the input), or fails
  while running with an ``execution_error`` whose ``exception_message`` is one of Segue's own
  errors (``PlanError`` / ``PathError``, never a bare library exception or a traceback) naming the
  input or the file, the value, and a fix;
* the server still answers (``/system_stats``);
* nothing was written: output/ and temp/ hold exactly the files they held before.

A few inputs are not errors by design (one keyframe is a one-image travel, a 2x2 delivered
size); their tests check what they make instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import node_prompts as NP  # noqa: E402

from segue.video_utils.core.probe import probe  # noqa: E402

pytestmark = pytest.mark.comfyui

NAN, INF = float("nan"), float("inf")
# Words a message uses to tell the user what to do.
FIX_WORDS = ("use ", "give ", "connect", "put ", "remove", "lower", "check", "re-export", "re-encode", "write ",
             "choose", "add ", "shorten", "export", "fix ", "leave", "turn ", "copy", "rename", "retype", "drop ",
             "generate", "plan ", "disconnect", "set ", "pass ", "list ", "one of", "ask for",
             "must ", "need", "a phase has", "only ")
OUR_ERRORS = ("PlanError", "PathError")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \"", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    id: str
    node: str                       # builder in node_prompts.BUILDERS
    inputs: dict                    # the one (or two) inputs changed
    expect: tuple[str, ...]         # fragments the message must contain (case-insensitive)
    kind: str = "any"               # "refused" (HTTP 400), "failed" (execution_error) or "any"
    comfy: bool = False             # refused by ComfyUI's own type/range check (its wording, no fix)


CASES = [
    # --- counts ---------------------------------------------------------------------------------
    Case("join_one_clip", "SegueJoinClips", {"clip_files": "{a}"}, ("at least two clips",)),
    Case("join_step_one_clip", "SegueJoinStep", {"clip_files": "{a}"}, ("at least 2 clips", "got 1")),
    Case("zero_keyframes", "SegueTravel", {"keys": []}, ("images is empty",), "refused"),
    Case("join_index_missing", "SegueJoinStep", {"join_index": 3}, ("join_index=3", "0..0")),
    Case("segment_index_missing", "SegueTravelStep", {"segment_index": 5}, ("segment_index=5", "0..1")),
    Case("extend_segment_missing", "SegueExtendStep", {"segment_index": 4}, ("segment_index=4", "0..0")),
    Case("transitions_for_missing_joins", "SegueJoinAssembleFiles", {"transition_files": "{c}\n{c}"},
         ("2 transitions", "1 joins")),
    Case("extension_segments_extra", "SegueExtendAssemble", {"segment_files": "{b}\n{c}"},
         ("2 segment files", "1 segments")),
    Case("empty_segment_list", "SegueStitchFiles", {"segment_files": "  \n "}, ("segment_files is empty",)),
    # --- sizes ----------------------------------------------------------------------------------
    Case("tiny_keyframes", "SegueTravel", {"keys": "tiny"}, ("16x16", "too small to generate", "32x32")),
    Case("tiny_keyframes_step", "SegueTravelStep", {"keyframes": ["tiny_keys", 0]}, ("16x16", "too small")),
    Case("tiny_working_size", "SegueJoinClips", {"work_width": 8, "work_height": 8}, ("16x16", "too small")),
    Case("tiny_working_size_step", "SegueJoinStep", {"work_width": 16, "work_height": 16}, ("16x16", "too small")),
    Case("tiny_clip_extension", "SegueExtendClip", {"clip_file": "{tiny_clip}"}, ("16x16", "too small")),
    Case("tiny_clip_extension_step", "SegueExtendStep", {"clip_file": "{tiny_clip}"}, ("16x16", "too small")),
    Case("zero_height", "SegueLoadImages", {"width": 64, "height": 0}, ("width=64, height=0", "both")),
    Case("travel_width_only", "SegueTravel", {"width": 64}, ("width=64, height=0",)),
    Case("enormous_travel_frames", "SegueTravel", {"keys": "big", "segment_frames": "1024", "overlap": "8"},
         ("travel segment 0", "1025 frames at 1920x1088", "gib", "above the limit")),
    Case("enormous_join_working_size", "SegueJoinClips", {"work_width": 4096, "work_height": 4096, "gap": 900},
         ("join 0", "4096x4096", "gib", "smaller size")),
    Case("enormous_join_step", "SegueJoinStep", {"work_width": 4096, "work_height": 4096, "gap": 900},
         ("join 0 transition", "4096x4096", "gib")),
    Case("segment_frames_astronomic", "SegueTravel", {"segment_frames": "100000000000000000000"},
         ("segment_frames=100000000000000000000", "limit of 1024")),
    Case("extension_frames_huge", "SegueExtendClip", {"frames": "99999999"}, ("frames=99999999", "limit")),
    Case("join_context_huge", "SegueJoinClips", {"context": 1000}, ("context 1000", "limit of 1025")),
    # --- numbers the frontend would never send --------------------------------------------------
    Case("nan_sharpen_travel", "SegueTravel", {"sharpen": NAN}, ("sharpen=nan", "is outside 0..1", "use a sharpening")),
    Case("nan_sharpen_stitch", "SegueStitchFiles", {"sharpen": NAN}, ("sharpen=nan",)),
    Case("nan_sharpen_join", "SegueJoinClips", {"sharpen": NAN}, ("sharpen=nan",)),
    Case("nan_sharpen_extend_assemble", "SegueExtendAssemble", {"sharpen": NAN},
         ("sharpen=nan",)),
    Case("nan_strength", "SegueTravel", {"strength": NAN}, ("strength=nan", "between 0")),
    Case("nan_darken_step", "SegueTravelStep", {"darken": NAN}, ("darken", "nan")),
    Case("nan_output_fps", "SegueTravel", {"output_fps": NAN}, ("fps=nan",)),
    Case("inf_output_fps", "SegueTravel", {"output_fps": INF}, ("output_fps",), "refused", comfy=True),
    Case("nan_fps_save_segment", "SegueSaveSegment", {"fps": NAN}, ("fps=nan",)),
    Case("nan_fps_save_video", "SegueSaveVideo", {"fps": NAN}, ("fps=nan",)),
    Case("nan_fps_join", "SegueJoinClips", {"fps": NAN}, ("fps=nan",)),
    Case("nan_fps_stitch", "SegueStitchFiles", {"fps": NAN}, ("fps=nan",)),
    Case("nan_generation_fps", "SegueJoinStep", {"generation_fps": NAN}, ("generation_fps=nan",)),
    Case("nan_saturation", "SegueSaveStep", {"saturation": NAN}, ("saturation=nan",)),
    Case("nan_brightness", "SeguePreviewStep", {"brightness": NAN}, ("brightness=nan",)),
    Case("nan_colour_strength", "SegueSaveStep", {"colour_strength": NAN}, ("colour_strength=nan",)),
    Case("nan_cfg", "SegueRecipe", {"cfg": NAN}, ("cfg=nan",)),
    Case("nan_vace_strength", "SegueRecipe", {"vace_strength": NAN}, ("vace_strength=nan",)),
    Case("nan_shift", "SegueRecipe", {"shift": NAN}, ("shift=nan",)),
    Case("nan_crf", "SegueTravel", {"crf": NAN}, ("crf", "nan"), "refused", comfy=True),
    Case("huge_crf", "SegueSaveVideo", {"crf": 10 ** 30}, ("crf",), "refused", comfy=True),
    Case("negative_gap", "SegueJoinClips", {"gap": -5}, ("gap",), "refused", comfy=True),
    Case("huge_frame_count", "SegueLoadVideo", {"frame_count": 10 ** 12}, ("frame_count",), "refused", comfy=True),
    Case("negative_segment_frames", "SegueTravel", {"segment_frames": "-5"}, ("segment_frames='-5'", "minimum 1"),
         "refused"),
    Case("zero_extension", "SegueExtendClip", {"frames": "0"}, ("frames='0'", "minimum 1"), "refused"),
    Case("fractional_segment_frames", "SegueTravel", {"segment_frames": "16.5"}, ("16.5", "whole number"),
         "refused"),
    Case("start_past_end", "SegueLoadVideo", {"start": 500}, ("start=500", "0..19")),
    Case("last_frames_too_many", "SegueLoadVideo", {"last_frames": 500}, ("last_frames=500", "at most 20")),
    Case("trim_drops_everything", "SegueSaveSegment", {"trim_start": 5}, ("trim_start=5", "smaller")),
    Case("wrong_frame_count", "SegueSaveSegment", {"expected_frames": 7}, ("planned 7 frames", "got 2")),
    Case("extension_overlap_longer_than_clip", "SegueExtendStep", {"overlap": 500}, ("overlap=500", "at most 20")),
    Case("extension_blend_above_overlap", "SegueExtendStep", {"blend": 50}, ("blend=50", "lower blend")),
    Case("overlap_as_long_as_segment", "SegueTravel", {"overlap": "16"}, ("overlap[0]=16", "below 16")),
    Case("exact_keyframes_overlap_too_small", "SegueTravel", {"exact_keyframes": True, "overlap": "2"},
         ("overlap[0]=2", "at least 3")),
    Case("stitch_overlap_longer_than_segment", "SegueStitchFiles", {"overlaps": "100"}, ("20 frames", "100")),
    # --- wrong list lengths ---------------------------------------------------------------------
    Case("two_lengths_for_three_segments", "SegueTravel", {"keys": "four", "segment_frames": "80, 64"},
         ("segment_frames has 2 values", "3 segments")),
    Case("three_overlaps_for_one_boundary", "SegueStitchFiles", {"overlaps": "4, 4, 4"},
         ("overlaps=[4, 4, 4]", "exactly 1")),
    Case("more_prompt_lines_than_segments", "SegueTravel", {"prompts": "a\nb\nc\nd"},
         ("prompts has 4 prompts", "2 segments", "give one prompt")),
    Case("fewer_prompt_lines_than_segments", "SegueTravel", {"prompts": "a\nb", "loop": True},
         ("prompts has 2 prompts", "3 segments")),     # the last line is not repeated: one rule with plan files
    Case("more_prompt_lines_than_joins", "SegueJoinClips", {"prompt": "a\nb"}, ("prompt has 2 prompts", "1 join")),
    Case("not_a_number_in_list", "SegueTravel", {"segment_frames": "16, x"}, ("'x' is not a whole number",),
         "refused"),
    Case("not_a_number_in_extension", "SegueExtendStep", {"frames": "12, x"}, ("'x' is not a whole number",),
         "refused"),
    # --- per-join overrides -----------------------------------------------------------------------
    Case("override_for_missing_join", "SegueJoinClips", {"per_join": '[{}, {"gap": 5}]'}, ("2 entries", "1 joins")),
    Case("override_unknown_key", "SegueJoinClips", {"per_join": '[{"gapp": 5}]'}, ("gapp", "use only")),
    Case("override_unknown_key_step", "SegueJoinStep", {"per_join": '[{"contxt": 3}]'}, ("contxt",)),
    Case("override_nan", "SegueJoinClips", {"per_join": '[{"gap": NaN}]'}, ("gap=nan",)),
    Case("override_negative", "SegueJoinAssembleFiles", {"per_join": '[{"gap": -4}]'}, ("-4", "0 or more")),
    Case("override_not_a_list", "SegueJoinClips", {"per_join": '{"gap": 5}'}, ("json list",), "refused"),
    Case("override_not_json", "SegueJoinAssembleFiles", {"per_join": "[{gap: 1}]"}, ("not valid json",), "refused"),
    # --- phases (schedules) -----------------------------------------------------------------------
    Case("phases_not_json", "SegueRecipe", {"phases": "[{model: high}]"}, ("phases is not valid json",), "refused"),
    Case("phases_unknown_key", "SegueRecipe", {"phases": '[{"model": "high", "foo": 1}]'}, ("foo",), "refused"),
    Case("phases_unknown_expert", "SegueRecipe", {"phases": '[{"model": "medium"}]'}, ("medium",), "refused"),
    Case("phases_not_a_list", "SegueRecipe", {"phases": '{"model": "high"}'}, ("json list",), "refused"),
    Case("phases_nan_cfg", "SegueRecipe", {"phases": '[{"model": "high", "cfg": NaN}]'}, ("cfg=nan",), "refused"),
    Case("phases_going_backwards", "SegueRecipe",
         {"wan": True, "generator": "wan-vace",
          "phases": '[{"model": "high", "end_step": 3}, {"model": "low", "end_step": 2}, {"model": "low"}]'},
         ("phases[1].end_step=2", "above 3")),
    Case("phases_past_the_last_step", "SegueRecipe",
         {"wan": True, "generator": "wan-vace", "phases": '[{"model": "high", "end_step": 30}, {"model": "low"}]'},
         ("phases[0].end_step=30", "steps=4")),
    Case("phases_last_with_end", "SegueRecipe",
         {"wan": True, "generator": "wan-vace", "phases": '[{"model": "high", "end_step": 2}, {"model": "low", '
                                                          '"end_step": 3}]'},
         ("phases[1].end_step=3", "leave end_step out")),
    # --- LoRAs ------------------------------------------------------------------------------------
    Case("lora_missing", "SegueRecipe", {"loras": "nope.safetensors:0.8"}, ("nope.safetensors", "models/loras")),
    Case("segment_lora_missing", "SegueRecipe", {"segment_loras": "ghost.safetensors\n-"}, ("ghost.safetensors",)),
    Case("phase_lora_missing", "SegueRecipe",
         {"phases": '[{"model": "high", "loras": [{"name": "phantom.safetensors"}]}]'}, ("phantom.safetensors",)),
    Case("lora_strength_nan", "SegueRecipe", {"loras": "x.safetensors:nan"}, ("strength",)),
    Case("more_segment_loras_than_segments", "SegueRecipe", {"segment_loras": "-\n-\n-\n-"}, ("segment_loras",)),
    # --- damaged and wrong files ------------------------------------------------------------------
    Case("truncated_clip", "SegueJoinClips", {"clip_files": "{a}\n{trunc}"}, ("truncated.mp4",)),
    Case("cut_mid_packet", "SegueExtendClip", {"clip_file": "{cut}"}, ("cut.mp4",)),
    Case("corrupt_middle_stitch", "SegueStitchFiles", {"segment_files": "{a}\n{corrupt}", "overlaps": "4"},
         ("corrupt_middle.mp4", "damaged")),
    Case("corrupt_middle_load", "SegueLoadVideo", {"video": "{corrupt}"}, ("corrupt_middle.mp4", "damaged")),
    Case("empty_file", "SegueLoadVideo", {"video": "{empty}"}, ("empty.mp4", "empty file")),
    Case("garbage_file", "SegueStitchFiles", {"segment_files": "{a}\n{garbage}"}, ("garbage.mp4", "cannot be opened")),
    Case("sound_only_clip", "SegueJoinClips", {"clip_files": "{a}\n{sound}"}, ("sound_only.mp4", "sound")),
    Case("sound_only_extension", "SegueExtendClip", {"clip_file": "{sound}"}, ("sound_only.mp4",)),
    Case("image_as_clip", "SegueExtendClip", {"clip_file": "{image_as_video}"}, ("image_as_video.mp4", "still image")),
    Case("image_as_segment", "SegueStitchFiles", {"segment_files": "{a}\n{k0}"}, ("k0.png", "still image")),
    Case("image_as_video_load", "SegueLoadVideo", {"video": "{image_as_video}"}, ("still image",)),
    Case("clip_without_frames", "SegueLoadVideo", {"video": "{no_frames}"}, ("no_frames.mp4",)),
    Case("text_file_as_clip", "SegueJoinClips", {"clip_files": "{a}\n{text}"}, ("notes.txt", "extension")),
    Case("video_as_keyframe", "SegueLoadImages", {"images": "{a}"}, ("a.mp4", "extension"), "refused"),
    Case("garbage_png_keyframe", "SegueLoadImages", {"images": "{bad_png}"}, ("garbage.png",)),
    Case("picture_as_soundtrack", "SegueStitchFiles", {"soundtrack": "{k0}"}, ("k0.png", "no sound")),
    Case("silent_video_as_soundtrack", "SegueTravel", {"soundtrack": "{b}"}, ("b.mp4", "no sound")),
    Case("garbage_soundtrack", "SegueStitchFiles", {"soundtrack": "{garbage}"}, ("garbage.mp4", "cannot be opened")),
    Case("missing_soundtrack", "SegueTravel", {"soundtrack": "bad/none.wav"}, ("soundtrack='bad/none.wav'",
                                                                               "not found")),
    Case("missing_clip", "SegueJoinAssembleFiles", {"clip_files": "{a}\nbad/none.mp4"}, ("bad/none.mp4", "not found")),
    Case("missing_previous_file", "SegueExtendStep", {"previous_files": "bad/none.mkv", "segment_index": 0},
         ("bad/none.mkv",)),
    Case("empty_folder_listing", "SegueJoinClips", {"clip_files": "bad/emptydir/"}, ("bad/emptydir/", "holds no")),
    # --- text: non-UTF-8, very long --------------------------------------------------------------
    Case("surrogate_in_clip_name", "SegueJoinClips", {"clip_files": "{a}\nbad/b\ud800.mp4"},
         ("clip_files", "not utf-8")),
    Case("surrogate_in_keyframe_name", "SegueLoadImages", {"images": "bad/k\udcff.png"}, ("images", "not utf-8"),
         "refused"),
    Case("surrogate_in_prefix", "SegueTravel", {"filename_prefix": "bad/\udcff"}, ("filename_prefix", "not utf-8")),
    Case("surrogate_in_filename", "SegueSaveSegment", {"filename": "bad/x\ud800y"}, ("filename", "not utf-8"),
         "refused"),
    Case("surrogate_in_prompt", "SegueTravel", {"prompts": "a sunrise \ud800 over hills"}, ("prompts", "not utf-8")),
    Case("surrogate_in_negative_prompt", "SegueJoinClips", {"negative_prompt": "blur\udfff"},
         ("negative_prompt", "not utf-8")),
    Case("megabyte_prompt", "SegueTravel", {"prompts": "x" * 1_000_000}, ("prompts has 1000000 characters",
                                                                         "limit of 20000")),
    Case("megabyte_negative_prompt", "SegueExtendClip", {"negative_prompt": "n" * 1_000_000},
         ("negative_prompt has 1000000 characters",)),
    Case("megabyte_file_list", "SegueStitchFiles", {"segment_files": "x" * 1_000_000},
         ("segment_files", "limit of 200"), "refused"),
    Case("long_prefix", "SegueTravel", {"filename_prefix": "x" * 5000}, ("filename_prefix", "limit of 200"),
         "refused"),
    Case("nul_in_prefix", "SegueTravel", {"filename_prefix": "bad\x00x"}, ("filename_prefix", "nul"), "refused"),
    # --- templates -------------------------------------------------------------------------------
    Case("template_not_json", "SegueRecipe", {"generator": "template", "template": "bad/not_json.json"},
         ("not_json.json", "not json", "export (api)")),
    Case("template_ui_workflow", "SegueRecipe", {"generator": "template", "template": "bad/ui_workflow.json"},
         ("ui workflow", "export (api)")),
    Case("template_without_slots", "SegueRecipe", {"generator": "template", "template": "bad/no_slots.json"},
         ("0 segueguideslot",)),
    Case("template_a_list", "SegueRecipe", {"generator": "template", "template": "bad/a_list.json"},
         ("not an api-format prompt",)),
    Case("template_missing", "SegueRecipe", {"generator": "template", "template": "bad/none.json"},
         ("template='bad/none.json'", "not found")),
    Case("template_not_named", "SegueRecipe", {"generator": "template", "template": ""}, ("template file",)),
    Case("template_wrong_extension", "SegueRecipe", {"generator": "template", "template": "{k0}"},
         ("template=", "extension")),
    # --- choices (V3 combos are not checked by ComfyUI itself) ----------------------------------
    Case("mode_unknown", "SegueTravel", {"mode": "sideways"}, ("mode='sideways'", "chained"), "refused"),
    Case("method_unknown", "SeguePreviewStep", {"method": "magic"}, ("method='magic'",), "refused"),
    Case("preset_unknown", "SegueSaveVideo", {"preset": "warp"}, ("preset='warp'",), "refused"),
    Case("fit_unknown", "SegueJoinStep", {"fit": "zoom"}, ("fit='zoom'",), "refused"),
    Case("generator_unknown", "SegueRecipe", {"generator": "dream"}, ("generator='dream'",), "refused"),
    Case("colour_match_unknown", "SegueSaveStep", {"colour_match": "sepia"}, ("colour_match='sepia'",), "refused"),
    # Refused by Segue's validate_inputs at /prompt, on 0.3.64 (which checks V3 combos only at run time)
    # and on 0.27 (whose own combo check at /prompt steps aside for inputs a node validates itself).
    Case("retime_unknown", "SegueStitchFiles", {"retime": "warp"}, ("retime='warp'",), "refused"),
    Case("travel_retime_unknown", "SegueTravel", {"retime": "warp"}, ("retime='warp'",), "refused"),
    Case("travel_fit_unknown", "SegueTravel", {"fit": "zoom"}, ("fit='zoom'",), "refused"),
    Case("stitch_fit_unknown", "SegueStitchFiles", {"fit": "zoom"}, ("fit='zoom'",), "refused"),
    Case("gap_audio_unknown", "SegueJoinClips", {"gap_audio": "loud"}, ("gap_audio='loud'",), "refused"),
    Case("curve_unknown", "SegueTravel", {"curve": "sine"}, ("curve='sine'",), "refused"),
]


# --- fixtures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def m(comfy_server):
    """The media (node_prompts.media) plus what only these tests need: two 1920x1088 keyframes,
    a template of each wrong kind, dummy model files for the wan recipe (never loaded: the
    schedule is refused first) and an empty folder."""
    names = NP.media(comfy_server.input_dir)
    folder = comfy_server.input_dir / NP.SUB
    for i in range(2):
        big = np.full((1088, 1920, 3), 60 + 100 * i, np.uint8)
        cv2.imwrite(str(folder / f"big{i}.png"), big)
        names[f"big{i}"] = f"{NP.SUB}/big{i}.png"
    (folder / "not_json.json").write_text("{not json")
    (folder / "ui_workflow.json").write_text(json.dumps({"last_node_id": 1, "nodes": [{"id": 1, "type": "KSampler"}],
                                                         "links": []}))
    (folder / "no_slots.json").write_text(json.dumps({"1": {"class_type": "EmptyImage", "inputs": {
        "width": 16, "height": 16, "batch_size": 1, "color": 0}}}))
    (folder / "a_list.json").write_text("[1, 2, 3]")
    (folder / "emptydir").mkdir(exist_ok=True)
    models = comfy_server.base / "models"
    for sub in ("diffusion_models", "vae"):
        (models / sub).mkdir(parents=True, exist_ok=True)
        (models / sub / "segue_dummy.safetensors").write_bytes(b"")
    return names


def build(case: Case, m: dict) -> dict:
    inputs = {k: (v.format(**m) if isinstance(v, str) and "{" in v and "[{" not in v and '{"' not in v else v)
              for k, v in case.inputs.items()}
    builder = NP.BUILDERS[case.node]
    if case.node == "SegueTravel" and "keys" in inputs:
        keys = inputs.pop("keys")
        if keys == "tiny":
            return builder(m, keys=[m["tiny"], m["tiny"]], **inputs)
        if keys == "big":      # two 1920x1088 keyframes, generated at that size (not the automatic ~832x480)
            prompt = builder(m, keys=[m["big0"], m["big1"]], **inputs)
            prompt["keys"]["inputs"].update(width=1920, height=1088)
            return prompt
        return builder(m, keys=[m[f"k{i}"] for i in range(4)] if keys == "four" else keys, **inputs)
    if inputs.get("keyframes") == ["tiny_keys", 0]:
        prompt = builder(m, **inputs)
        prompt["tiny_keys"] = NP.keyframes([m["tiny"], m["tiny"], m["tiny"]])
        return prompt
    if case.node == "SegueRecipe" and inputs.pop("wan", False):
        return builder(m, models={"unet": "segue_dummy.safetensors", "vae": "segue_dummy.safetensors"}, **inputs)
    return builder(m, **inputs)


def check_message(case: Case, got: NP.Outcome) -> None:
    text = got.text
    assert got.kind in (("refused", "failed") if case.kind == "any" else (case.kind,)), \
        f"{case.id}: expected {case.kind}, got {got.kind}: {text[:500]}"
    low = text.lower()
    for fragment in case.expect:
        assert fragment.lower() in low, f"{case.id}: {fragment!r} not in the message:\n{text[:1500]}"
    assert not TRACEBACK.search(text), f"{case.id}: a traceback reached the user:\n{text[:1500]}"
    if got.kind == "failed":
        assert str(got.reply.get("exception_type", "")).endswith(OUR_ERRORS), \
            f"{case.id}: a bare {got.reply.get('exception_type')} reached the user: {text[:500]}"
    if not case.comfy:
        assert any(w in low for w in FIX_WORDS) or re.search(r"\d+\.\.\d+", low), \
            f"{case.id}: the message gives no fix (nor the valid range):\n{text[:1500]}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_by_name_and_leaves_nothing(comfy_server, m, case):
    before = NP.listing(comfy_server)
    rss_before = comfy_server.peak_rss_bytes()
    got = NP.outcome(comfy_server, build(case, m))
    check_message(case, got)
    assert comfy_server.get("/system_stats")["system"]["os"]          # the server still answers
    assert NP.listing(comfy_server) == before, f"{case.id} left files: {NP.listing(comfy_server) - before}"
    if case.id.startswith("enormous"):   # refused before allocating: the peak did not move by gigabytes
        assert comfy_server.peak_rss_bytes() - rss_before < 2 * 2 ** 30


def test_catalogue_is_broad():
    """At least 30 distinct bad inputs, over every family of node the brief names."""
    assert len({c.id for c in CASES}) == len(CASES) >= 30
    nodes = {c.node for c in CASES}
    assert {"SegueTravel", "SegueJoinClips", "SegueExtendClip", "SegueRecipe", "SegueTravelStep", "SegueJoinStep",
            "SegueExtendStep", "SegueSaveStep", "SegueStitchFiles", "SegueJoinAssembleFiles", "SegueLoadImages",
            "SegueLoadVideo", "SegueSaveSegment"} <= nodes


def test_a_tiny_delivered_size_is_not_an_error(comfy_server, m):
    """Only what is generated has a minimum size (32x32): a join generated at the default working
    size can still be delivered at 2x2 (the output keeps the size asked)."""
    got = NP.outcome(comfy_server, NP.join_clips(m, width=2, height=2, filename_prefix="bad/tiny_join"))
    assert got.kind == "success", got.text
    [item] = [i for ui in got.reply["outputs"].values() for i in ui.get("segue_files", [])
              if i["filename"].startswith("tiny_join")]
    info = probe(comfy_server.output_dir / item["subfolder"] / item["filename"])
    assert (info.width, info.height) == (2, 2)


def test_one_keyframe_is_a_one_image_travel(comfy_server, m):
    """One keyframe is not 'fewer than needed': it animates away from the image (segment_frames + 1)."""
    got = NP.outcome(comfy_server, NP.travel(m, keys=[m["k3"]], segment_frames="12", filename_prefix="bad/one"))
    assert got.kind == "success", got.text
    frames = [i["frames"] for ui in got.reply["outputs"].values() for i in ui.get("segue_files", [])
              if i["filename"].startswith("one_")]
    assert frames == [13]


def test_many_bad_prompts_in_a_row_leave_the_server_usable(comfy_server, m):
    """After the whole catalogue (and a burst of NaNs), a good prompt still runs."""
    for _ in range(5):
        assert NP.outcome(comfy_server, NP.stitch_files(m, sharpen=NAN)).kind == "failed"
    got = NP.outcome(comfy_server, NP.stitch_files(m, filename="bad/still_works"))
    assert got.kind == "success", got.text
    assert probe(comfy_server.output_dir / "bad" / "still_works.mp4").frame_count == 36
    os.remove(comfy_server.output_dir / "bad" / "still_works.mp4")
