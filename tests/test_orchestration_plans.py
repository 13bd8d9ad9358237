"""Plan files: JSON round trip, the original orchestrator's payloads, and up-front validation."""

import json
import subprocess
import sys

import av
import numpy as np
import pytest

from segue.orchestration.runs.plan_files import load_plan, read_plan, save_plan
from segue.orchestration.runs.checks import probe_frame_count
from segue.orchestration.runs.models import ClipRef, GeneratorConfig, JoinRun, TravelRun, finalize_run
from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.travel_plan import plan_travel


def images(tmp_path, n, size=(32, 32)):
    import cv2
    paths = []
    for i in range(n):
        p = tmp_path / f"key{i}.png"
        cv2.imwrite(str(p), np.full((size[1], size[0], 3), 40 * i % 255, np.uint8))
        paths.append(str(p))
    return paths


def clip(path, frames, size=32, codec="libx264"):
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=16)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), i * 7 % 255, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return str(path)


def test_travel_plan_round_trips_through_json(tmp_path):
    run = TravelRun(images=images(tmp_path, 4), segment_frames=[16, 20, 16], overlap=4, prompts=["a", "b", "c"],
                    negative_prompts="blurry", seed=7, seed_mode="increment", run_id="trip",
                    generator=GeneratorConfig.from_name("wan22-vace", unet="h.safetensors", unet_low="l.safetensors",
                                                        vae="v.safetensors", clip="t.safetensors", split_step=8),
                    darken=0.1, desaturate=0.2, strength=0.9, output_dir=str(tmp_path / "runs"))
    path = tmp_path / "plan.json"
    save_plan(run, path)
    data = json.loads(path.read_text())
    assert data["segue_plan"] == 1 and data["kind"] == "travel"
    again = load_plan(path)
    assert again == run
    assert again.segment_prompts() == ["a", "b", "c"]
    assert again.segment_negative_prompts() == ["blurry"] * 3
    assert [again.segment_seed(i) for i in range(3)] == [7, 8, 9]
    assert again.validate().to_dict() == plan_travel(4, [16, 20, 16], 4).to_dict()


def test_join_plan_round_trips_and_relative_paths_resolve_against_the_plan_file(tmp_path):
    (tmp_path / "clips").mkdir()
    for name in ("a", "b", "c"):
        clip(tmp_path / "clips" / f"{name}.mp4", 30)
    doc = {"segue_plan": 1, "kind": "join", "clips": ["clips/a.mp4", {"path": "clips/b.mp4", "name": "noon"}, "clips/c.mp4"],
           "context": 4, "gap": 9, "per_join": [{"prompt": "dusk", "gap_frame_count": 13}], "run_id": "j1"}
    path = tmp_path / "join.json"
    path.write_text(json.dumps(doc))
    run = load_plan(path)
    assert run.clips[1] == ClipRef(str(tmp_path / "clips" / "b.mp4"), "noon")
    assert run.output_dir == str(tmp_path / "segue_runs")          # relative to the plan file too
    plan = run.validate()
    assert run.clip_frames == [30, 30, 30]
    assert plan.joins[0].gap_frames != plan.joins[1].gap_frames          # per-join gap (seed key name)
    assert run.join_prompt(0) == ("dusk", "") and run.join_prompt(1)[0] == "smooth transition"
    save_plan(run, tmp_path / "again.json")
    assert load_plan(tmp_path / "again.json") == run


def test_no_image_fails_with_one_line_and_one_image_is_a_travel(tmp_path):
    with pytest.raises(PlanError, match="at least 1 keyframe image") as e:
        TravelRun(images=[], segment_frames=16).validate()
    assert "\n" not in str(e.value)
    one = TravelRun(images=images(tmp_path, 1), segment_frames=16)
    assert one.validate().total_frames == 17 and one.segment_count == 1


def test_bad_travel_inputs_name_the_input(tmp_path):
    good = images(tmp_path, 3)
    with pytest.raises(PlanError, match=r"image 1 .*nope.png.* does not exist"):
        TravelRun(images=[good[0], str(tmp_path / "nope.png"), good[2]]).validate()
    with pytest.raises(PlanError, match=r"overlap\[0\]=16 must be smaller"):
        TravelRun(images=good, segment_frames=16, overlap=16).validate()
    with pytest.raises(PlanError, match="prompts has 2 prompts but there are 3 segments: give one prompt"):
        TravelRun(images=images(tmp_path, 4), prompts=["a", "b"]).validate()
    with pytest.raises(PlanError, match="--vae"):
        TravelRun(images=good, generator=GeneratorConfig(kind="wan21-vace", unet="u", clip="c")).validate()
    with pytest.raises(PlanError, match="split_step"):
        TravelRun(images=good, generator=GeneratorConfig.from_name("wan22-vace", unet="u", unet_low="l", vae="v",
                                                                   clip="c", steps=4, split_step=4)).validate()
    with pytest.raises(PlanError, match="not a generator"):
        TravelRun(images=good, generator=GeneratorConfig.from_name("sdxl")).validate()
    with pytest.raises(PlanError, match="run_id"):
        TravelRun(images=good, run_id="../evil").validate()


def test_unknown_plan_keys_warn_typos_and_kinds_are_refused(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"segue_plan": 1, "kind": "travel", "images": [], "frames": 3, "notes": "mine"}))
    run, warnings = read_plan(path)
    assert warnings == ["p.json: travel plan key 'frames' is not a Segue setting and is ignored",
                        "p.json: travel plan key 'notes' is not a Segue setting and is ignored"]
    with pytest.warns(UserWarning) as record:
        load_plan(path)
    assert [str(r.message) for r in record] == warnings
    path.write_text(json.dumps({"segue_plan": 1, "kind": "travel", "images": [], "segment_frame": 3}))
    with pytest.raises(PlanError, match="unknown key 'segment_frame': did you mean 'segment_frames'"):
        load_plan(path)
    path.write_text(json.dumps({"segue_plan": 1, "kind": "morph"}))
    with pytest.raises(PlanError, match="kind"):
        load_plan(path)
    path.write_text("{not json")
    with pytest.raises(PlanError, match="not JSON"):
        load_plan(path)


def test_join_validation_names_the_short_clip(tmp_path):
    clips = [ClipRef(clip(tmp_path / "long.mp4", 40), "long"), ClipRef(clip(tmp_path / "tiny.mp4", 6), "tiny"),
             ClipRef(clip(tmp_path / "end.mp4", 40), "end")]
    with pytest.raises(PlanError, match=r"clip 1 \(tiny\) has 6 frames but its joins need at least 16"):
        JoinRun(clips=clips, context=8, gap=9).validate()
    with pytest.raises(PlanError, match="unknown key 'colour'"):
        JoinRun(clips=clips, context=2, gap=5, per_join=[{"colour": 1}]).validate()
    with pytest.raises(PlanError, match="at least 2 clips"):
        JoinRun(clips=clips[:1]).validate()


def test_probe_counts_frames_of_mp4_and_mkv_without_torch(tmp_path):
    assert probe_frame_count(clip(tmp_path / "a.mp4", 21)) == 21
    assert probe_frame_count(clip(tmp_path / "b.mkv", 13, codec="ffv1")) == 13
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(PlanError, match=r"clip 0: video .*bad.mp4.* cannot be opened"):
        probe_frame_count(tmp_path / "bad.mp4", "clip 0")


def test_finalize_fixes_run_id_and_random_seed(tmp_path):
    run = finalize_run(TravelRun(images=images(tmp_path, 2), seed=-1))
    assert run.run_id.startswith("travel-") and 0 <= run.seed < 2 ** 31
    run.validate()


def test_orchestration_modules_never_import_torch():
    code = ("import sys; import segue.orchestration.server.runner, segue.orchestration.cli.commands, "
            "segue.orchestration.runs.prompts, segue.orchestration.progress; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert not any(m.startswith('segue.nodes') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_join_plans_at_the_output_rate_like_the_join_nodes(tmp_path):
    """Clips of other sizes and rates are conformed by the nodes: counts are taken at the output
    rate (the first clip's, or fps), transitions are generated at 16 fps."""
    clips = [ClipRef(clip(tmp_path / "a.mp4", 30, size=32), "a"), ClipRef(clip(tmp_path / "b.mp4", 30, size=48), "b")]
    run = JoinRun(clips=clips, context=4, gap=9)
    plan = run.validate()
    assert run.clip_frames == [30, 30] and run.clip_fps == "16" and plan.output_fps == 16
    faster = JoinRun(clips=clips, context=4, gap=9, fps=24)
    assert faster.validate().output_fps == 24 and faster.clip_frames == [45, 45]


def test_join_aspect_ratio_must_match_the_clips(tmp_path):
    clips = [ClipRef(clip(tmp_path / f"{n}.mp4", 30, size=32), n) for n in ("a", "b")]
    JoinRun(clips=clips, context=4, gap=9, aspect_ratio="1:1").validate()
    with pytest.raises(PlanError, match=r"aspect_ratio='16:9' differs from the first clip's 32x32"):
        JoinRun(clips=clips, context=4, gap=9, aspect_ratio="16:9").validate()
