"""The ``segue`` command: plan JSON contract, bad input, and renders decoded back."""

import json
import subprocess
import sys
from fractions import Fraction

import av
import media
import numpy as np
import pytest

from segue.orchestration.cli import main
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.travel_plan import plan_travel

TRAVEL_SEGMENT_KEYS = {"index", "generate_frames", "overlap_from_previous", "overlap_with_next", "start_frame"}
JOIN_KEYS = {"index", "transition_frames", "gap_frames", "context_frames_a", "context_frames_b",
             "trim_from_a", "trim_from_b", "blend_frames"}


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_travel_json_contract(capsys):
    code, out, _ = run_cli(capsys, "plan", "travel", "--frames", *["83"] * 31, "--overlap", "10", "--json")
    assert code == 0
    doc = json.loads(out)
    assert {"segments", "total_frames", "keyframe_frames", "requested_keyframe_frames"} <= doc.keys()
    assert len(doc["segments"]) == 31
    assert all(TRAVEL_SEGMENT_KEYS <= s.keys() for s in doc["segments"])
    drift = max(abs(a - b) for a, b in zip(doc["keyframe_frames"], doc["requested_keyframe_frames"]))
    assert drift <= 2
    assert doc == plan_travel(32, 83, 10).to_dict()


def test_plan_join_json_contract(capsys):
    code, out, _ = run_cli(capsys, "plan", "join", "--clips", "100", "100", "100", "--context", "8",
                           "--gap", "53", "--replace", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["total_frames"] == 300
    assert all(JOIN_KEYS <= j.keys() for j in doc["joins"])
    assert doc == plan_join([100, 100, 100], 8, 53, True).to_dict()


def test_plan_join_of_files_counts_them_at_the_output_rate_in_frames_and_seconds(capsys, tmp_path):
    """``segue plan join CLIPS``: each clip's frames at the output rate (the first clip's, or --fps),
    the table in frames and seconds, the same plan ``segue join`` renders."""
    a = media.write_clip(tmp_path / "a.mp4", 64, 48, 30, 60)              # 2 s at 30 fps
    b = media.write_clip(tmp_path / "b.mp4", 48, 48, 16, 48)              # 3 s at 16 fps
    code, out, _ = run_cli(capsys, "plan", "join", str(a), str(b), "--gap", "21", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["clip_frames"] == [60, 90] and doc["output_fps"] == "30"
    gap = doc["joins"][0]["gap_frames"]                                   # 21, give or take the 4n+1 rounding
    assert abs(gap - 21) <= 8 and doc["total_frames"] == 60 + gap + 90
    assert doc["seconds"] == pytest.approx(doc["total_frames"] / 30)
    code, out, _ = run_cli(capsys, "plan", "join", str(a), str(b), "--gap", "21", "--fps", "24")
    assert code == 0
    head = out.splitlines()[0]                                            # 2 s + 3 s at 24 fps, and the gap
    total = int(head.split("total ")[1].split()[0])
    assert total > 48 + 72 and head.endswith(f"total {total} frames = {total / 24:.3f} s at 24 fps")
    code, _, err = run_cli(capsys, "plan", "join", str(a), "--clips", "10", "10")
    assert code == 2 and "not both" in err
    code, out, _ = run_cli(capsys, "plan", "join", str(a), str(b), "--gap", "21", "--context", "4", "--json")
    planned = json.loads(out)["total_frames"]
    code, out, _ = run_cli(capsys, "join", str(a), str(b), "--gap", "21", "--context", "4",
                           "--out", str(tmp_path / "j.mp4"))
    assert code == 0 and f"frames: {planned} " in out


def test_plan_tables_are_readable(capsys):
    code, out, _ = run_cli(capsys, "plan", "travel", "--frames", "40", "40", "--overlap", "8")
    assert code == 0 and "keyframes at:" in out and "total" in out


@pytest.mark.parametrize("argv, fragment", [
    (["plan", "travel", "--frames", "81", "81", "--overlap", "90"], "overlap[0]=90"),
    (["plan", "join", "--clips", "100", "20", "100", "--context", "8", "--gap", "53", "--replace"], "clip 1 has 20 frames"),
    (["plan", "join", "--clips", "50", "50", "--per-join", "[{"], "--per-join"),
    (["travel", "missing.png", "also-missing.png", "--frames", "16", "--out", "x.mp4"], "missing.png"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_planning_does_not_import_torch():
    code = ("import sys; from segue.orchestration.cli import main; "
            "main(['plan','travel','--frames','40','--overlap','8','--json']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def _solid_png(path, rgb, size=(64, 48)):
    import cv2
    img = np.zeros((size[1], size[0], 3), np.uint8)
    img[:] = rgb[::-1]
    cv2.imwrite(str(path), img)


def _decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        return np.stack(frames), s.average_rate


def test_travel_end_to_end_keyframes_at_planned_frames(tmp_path, capsys):
    colours = [(230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30)]
    images = []
    for i, c in enumerate(colours):
        _solid_png(tmp_path / f"k{i}.png", c, size=(70, 50))     # not a multiple of 16: conformed
        images.append(str(tmp_path / f"k{i}.png"))
    out = tmp_path / "travel.mp4"
    code, stdout, _ = run_cli(capsys, "travel", *images, "--frames", "18", "--overlap", "5",
                              "--exact-keyframes", "--method", "blend", "--out", str(out), "--crf", "12")
    assert code == 0, stdout
    plan = plan_travel(4, 18, 5, exact_keyframes=True)
    frames, rate = _decode(out)
    assert frames.shape[0] == plan.total_frames
    assert frames.shape[1:3] == (48, 64)
    assert Fraction(rate) == 16
    for k, pos in enumerate(plan.keyframe_frames):
        mean = frames[pos].reshape(-1, 3).mean(0)
        assert np.abs(mean - np.array(colours[k])).max() < 12, (k, pos, mean)
    assert str(out) in stdout and str(plan.total_frames) in stdout


def _write_clip(path, colour_base, n, size=(64, 48), fps=24):
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"crf": "10"}
        for i in range(n):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:] = colour_base
            img[:, : (i * 3) % size[0]] = 255 - np.array(colour_base, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.mark.parametrize("replace", [False, True])
def test_join_end_to_end_frame_count(tmp_path, capsys, replace):
    clips = []
    for i, col in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        _write_clip(tmp_path / f"c{i}.mp4", col, 40)
        clips.append(str(tmp_path / f"c{i}.mp4"))
    out = tmp_path / "joined.mp4"
    argv = ["join", *clips, "--context", "4", "--gap", "9", "--method", "blend", "--out", str(out)]
    code, stdout, _ = run_cli(capsys, *(argv + (["--replace"] if replace else [])))
    assert code == 0
    plan = plan_join([40, 40, 40], 4, 9, replace, generation_fps=16, output_fps=24)   # transitions made at 16 fps
    frames, rate = _decode(out)
    assert frames.shape[0] == plan.total_frames
    assert Fraction(rate) == 24
    # the middle of clip 1's kept range is clip 1's own colour
    mid = plan.clips[1].start_frame + (plan.clips[1].keep_end - plan.clips[1].keep_start) // 2
    assert frames[mid, :, -1].mean(0)[1] > 150


def _join_delivery_clips(tmp_path):
    return [str(media.write_clip(tmp_path / f"d{i}.mp4", 64, 48, fps=30, frames=45, audio=(330 + 220 * i, 44_100,
                                                                                           "mono")))
            for i in range(2)]


def test_join_delivery_options_reach_the_local_render(tmp_path, capsys):
    """``segue join --fps --work-size --retime --gap-audio``: the output is at --fps, the
    transitions retimed by --retime and the generated gap silent with --gap-audio silence."""
    from segue.video_utils.engine.audio_io import read_audio
    from segue.video_utils.core.retime import conformed_frame_count

    clips = _join_delivery_clips(tmp_path)
    outs = {}
    for name, extra in (("nearest", ["--retime", "nearest", "--gap-audio", "silence"]), ("default", [])):
        outs[name] = tmp_path / f"{name}.mp4"
        argv = ["join", *clips, "--context", "4", "--gap", "21", "--method", "blend", "--fps", "24",
                "--work-size", "96x64", "--out", str(outs[name]), *extra]
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, err
    plan = plan_join([conformed_frame_count(c, 24) for c in clips], 4, 21, generation_fps=16, output_fps=24)
    nearest, rate = _decode(outs["nearest"])
    blended, blended_rate = _decode(outs["default"])
    assert Fraction(rate) == Fraction(blended_rate) == 24
    assert nearest.shape[0] == blended.shape[0] == plan.total_frames
    spec = plan.joins[0]
    gap = slice(spec.transition_start + spec.context_frames_a, spec.transition_start + spec.context_frames_a
                + spec.gap_frames)
    assert np.abs(nearest[gap].astype(int) - blended[gap].astype(int)).max() > 8, "--retime nearest was ignored"
    middle = (spec.transition_start + spec.context_frames_a + spec.gap_frames / 2) / 24
    for name, silent in (("nearest", True), ("default", False)):
        sound = read_audio(outs[name])
        centre = int(middle * sound.sample_rate)
        window = sound.waveform[0, :, centre - 2000: centre + 2000].numpy()
        assert (media.rms(window) < 1e-3) == silent, (name, media.rms(window))


def test_join_delivery_options_round_trip_the_plan_file(tmp_path):
    from segue.orchestration.cli import build_parser
    from segue.orchestration.runs.plan_files import read_plan, save_plan
    from segue.orchestration.cli.build import join_run

    clips = _join_delivery_clips(tmp_path)
    ns = build_parser().parse_args(["join", *clips, "--fps", "24", "--work-size", "96x64", "--retime", "nearest",
                                    "--gap-audio", "silence", "--out", str(tmp_path / "o.mp4")])
    run = join_run(ns)
    assert (run.fps, run.work_width, run.work_height, run.retime, run.gap_audio) == (24, 96, 64, "nearest", "silence")
    run.validate()
    save_plan(run, tmp_path / "plan.json")
    data = json.loads((tmp_path / "plan.json").read_text())
    assert {k: data[k] for k in ("fps", "work_width", "work_height", "retime", "gap_audio")} == \
        {"fps": 24, "work_width": 96, "work_height": 64, "retime": "nearest", "gap_audio": "silence"}
    again, notes = read_plan(tmp_path / "plan.json")
    assert not notes and (again.fps, again.work_width, again.work_height, again.retime, again.gap_audio) == \
        (24, 96, 64, "nearest", "silence")
    data["gap_audio"] = "music"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="gap_audio"):
        read_plan(tmp_path / "bad.json")[0].validate()


def test_travel_fit_pad_letterboxes_keyframes_of_another_shape(tmp_path, capsys):
    """``--fit`` offers every mode the conform stage has (pad included) for travels too."""
    images = [tmp_path / "wide.png", tmp_path / "tall.png"]
    _solid_png(images[0], (230, 30, 30), size=(64, 48))
    _solid_png(images[1], (30, 230, 30), size=(32, 64))
    out = tmp_path / "pad.mp4"
    code, _, err = run_cli(capsys, "travel", *map(str, images), "--frames", "18", "--overlap", "5", "--fit", "pad",
                           "--exact-keyframes", "--method", "blend", "--out", str(out), "--crf", "12")
    assert code == 0, err
    plan = plan_travel(2, 18, 5, exact_keyframes=True)
    frames, _ = _decode(out)
    last = frames[plan.keyframe_frames[1]].astype(int)       # 32x64 in 64x48: pillarboxed
    assert last[:, :8].max() < 40 and last[:, -8:].max() < 40, "no black bars: the keyframe was not padded"
    assert last[:, 28:36, 1].mean() > 180
