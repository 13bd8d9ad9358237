"""Bad inputs to the command line and to plan files: each one is refused before anything is
loaded, written or submitted.

For every case: exit code 2, stderr is only ``segue: error: ...`` lines (one per problem) naming
the input and the value, with a fix, no traceback; nothing exists at the output path and no run
directory was made.  Server commands get a server URL that is down (nothing listens on port 9):
the message must be about the input, never "server unreachable".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from media import write_clip, write_sound  # noqa: E402

from segue.orchestration.cli import main  # noqa: E402
from segue.video_utils.core.lengths import MAX_STEP_MEMORY  # noqa: E402

DOWN = "http://127.0.0.1:9"
WAN = ["--generator", "wan21-vace", "--unet", "u.safetensors", "--vae", "v.safetensors", "--clip", "t.safetensors"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Good and broken inputs, written once for the module."""
    d = tmp_path_factory.mktemp("media")
    for i in range(3):
        img = np.full((48, 64, 3), 60 * i, np.uint8)
        cv2.imwrite(str(d / f"k{i}.png"), img)
    for i in range(2):
        write_clip(d / f"c{i}.mp4", 64, 48, fps=16, frames=40)
    write_clip(d / "short.mp4", 64, 48, fps=16, frames=6)
    (d / "corrupt.mp4").write_bytes(bytes(range(256)) * 40)
    data = (d / "c0.mp4").read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    _faststart_copy(d / "c0.mp4", d / "whole.mp4")   # the index first: a cut end keeps it
    data = (d / "whole.mp4").read_bytes()
    (d / "cut-end.mp4").write_bytes(data[: len(data) - 120])
    (d / "empty.mp4").write_bytes(b"")
    (d / "empty.png").write_bytes(b"")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    write_sound(d / "sound.wav", 440, 2.0)
    (d / "not-utf8.json").write_bytes(b'{"segue_plan": 1, "kind": "travel", "prompts": "caf\xe9"}')
    return d


def _faststart_copy(source: Path, target: Path) -> None:
    import av

    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)


def plan_file(d: Path, name: str, body) -> str:
    path = d / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return str(path)


def travel_plan(**kw) -> dict:
    return {"segue_plan": 1, "kind": "travel", "images": ["k0.png", "k1.png"], "segment_frames": 16, "overlap": 4,
            "output_dir": "runs", **kw}


# (id, argv builder(media dir, tmp dir) -> argv, fragments the error must contain, error lines)
CASES = [
    # --- counts -------------------------------------------------------------------------------------
    ("travel-no-images", lambda d, t: ["travel", "--frames", "16", "--out", f"{t}/o.mp4"], ["images"], 1),
    ("join-one-clip", lambda d, t: ["join", f"{d}/c0.mp4", "--out", f"{t}/o.mp4"], ["at least 2 clips"], 1),
    ("travel-zero-frames", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "0", "--out", f"{t}/o.mp4"],
     ["segment_frames", "0"], 1),
    ("extend-fit", lambda d, t: ["extend", f"{d}/c0.mp4", "--frames", "20", "--fit", "pad", "--out", f"{t}/o.mp4"],
     ["--fit pad does not apply to extend", "leave --fit out"], 1),
    ("extend-zero-frames", lambda d, t: ["extend", f"{d}/c0.mp4", "--frames", "0", "--out", f"{t}/o.mp4"],
     ["frames=0", "at least 1"], 1),
    ("travel-huge-frames", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "100000000",
                                         "--out", f"{t}/o.mp4"], ["100000000", "limit"], 1),
    ("travel-negative-overlap", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", f"{d}/k2.png", "--frames", "16",
                                              "--overlap", "-1", "--out", f"{t}/o.mp4"], ["overlap", "-1"], 1),
    ("travel-overlap-too-big", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", f"{d}/k2.png", "--frames", "16",
                                             "--overlap", "16", "--out", f"{t}/o.mp4"], ["overlap[0]=16"], 1),
    ("join-gap-huge", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--gap", "100000000", "--out", f"{t}/o.mp4"],
     ["gap", "100000000"], 1),
    ("join-negative-context", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--context", "-3",
                                            "--out", f"{t}/o.mp4"], ["context", "-3"], 1),
    ("join-clip-too-short", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/short.mp4", f"{d}/c1.mp4", "--context", "8",
                                          "--gap", "9", "--out", f"{t}/o.mp4"], ["short", "6 frames"], 1),
    ("extend-overlap-longer-than-clip", lambda d, t: ["extend", f"{d}/short.mp4", "--frames", "20", "--overlap", "10",
                                                      "--out", f"{t}/o.mp4"], ["overlap=10", "only 6 frames"], 1),
    # --- sizes ------------------------------------------------------------------------------------------
    ("size-zero", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--size", "0x0",
                                "--out", f"{t}/o.mp4"], ["0x0", "at least 1 pixel"], 1),
    ("size-tiny", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--size", "8x8",
                                "--out", f"{t}/o.mp4"], ["16x16", "too small", "32x32"], 1),
    ("size-enormous", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--size",
                                    "100000x100000", "--out", f"{t}/o.mp4"],
     ["100000x100000", "frame memory", f"{MAX_STEP_MEMORY // 2 ** 30} GiB", "--size"], 1),
    ("size-enormous-server", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--size",
                                           "100000x100000", "--out", f"{t}/o.mp4", "--server", DOWN],
     ["frame memory"], 1),
    ("size-not-a-size", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--size", "big",
                                      "--out", f"{t}/o.mp4"], ["'big'", "832x480"], 1),
    # --- numbers ----------------------------------------------------------------------------------------
    ("fps-nan", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--fps", "nan",
                              "--out", f"{t}/o.mp4"], ["fps=nan", "finite"], 1),
    ("fps-inf", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--fps", "inf",
                              "--out", f"{t}/o.mp4"], ["fps=inf"], 1),
    ("fps-negative", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--fps", "-5",
                                   "--out", f"{t}/o.mp4"], ["fps=-5", "positive"], 1),
    ("sharpen-7", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--sharpen", "7",
                                "--out", f"{t}/o.mp4"], ["sharpen=7", "0..1"], 1),
    ("sharpen-above-max", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--sharpen", "1.5", "--context", "4",
                                        "--gap", "9", "--out", f"{t}/o.mp4"], ["sharpen=1.5", "0..1", "use a"], 1),
    ("join-gap-audio-unknown", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--gap-audio", "music",
                                             "--out", f"{t}/o.mp4"], ["--gap-audio", "music"], 1),
    ("join-prompts-count", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", f"{d}/c0.mp4", f"{d}/c1.mp4",
                                         "--prompt", "a", "--prompt", "b", "--out", f"{t}/o.mp4"],
     ["--prompt has 2 prompts", "3 joins"], 1),
    ("sharpen-nan", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--sharpen", "nan", "--context", "4",
                                  "--gap", "9", "--out", f"{t}/o.mp4"], ["sharpen=nan"], 1),
    ("crf-99", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--crf", "99",
                             "--out", f"{t}/o.mp4"], ["crf=99", "0..51"], 1),
    ("seed-negative", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--seed", "-5",
                                    "--out", f"{t}/o.mp4", "--server", DOWN], ["seed=-5"], 1),
    ("saturation-negative", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--saturation",
                                          "-1", "--out", f"{t}/o.mp4"], ["saturation=-1", "0..4"], 1),
    ("brightness-5", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--brightness", "5", "--context", "4",
                                   "--gap", "9", "--out", f"{t}/o.mp4"], ["brightness=5", "-1..1"], 1),
    ("steps-zero", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--steps", "0",
                                 "--out", f"{t}/o.mp4", "--server", DOWN], ["steps=0"], 1),
    ("cfg-nan", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--cfg", "nan",
                              "--out", f"{t}/o.mp4", "--server", DOWN], ["cfg=nan"], 1),
    ("window-zero", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--window", "0",
                                  "--out", f"{t}/o.mp4", "--server", DOWN], ["--window=0"], 1),
    ("blend-longer-than-context", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--context", "8", "--blend",
                                                "20", "--out", f"{t}/o.mp4"], ["blend=20", "context=8"], 1),
    # --- list lengths and per-join settings -------------------------------------------------------------------
    ("frames-list-too-long", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", f"{d}/k2.png", "--frames", "16",
                                           "16", "16", "--out", f"{t}/o.mp4"], ["segment_frames has 3 values", "2"], 1),
    ("overlap-list-too-long", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", f"{d}/k2.png", "--frames", "16",
                                            "--overlap", "4", "4", "4", "--out", f"{t}/o.mp4"], ["overlap", "3"], 1),
    ("prompts-list-wrong", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", f"{d}/k2.png", "--frames", "16",
                                         "--prompt", "a", "--prompt", "b", "--prompt", "c", "--out", f"{t}/o.mp4"],
     ["prompts has 3 prompts", "2 segments", "give one prompt"], 1),
    ("per-join-for-missing-joins", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--context", "4", "--gap", "9",
                                                 "--per-join", '[{}, {}, {"gap": 5}]', "--out", f"{t}/o.mp4"],
     ["per_join has 3 entries", "1 joins"], 1),
    ("per-join-unknown-key", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--context", "4", "--gap", "9",
                                           "--per-join", '[{"colour": 1}]', "--out", f"{t}/o.mp4"],
     ["unknown key 'colour'"], 1),
    ("per-join-not-a-list", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/c1.mp4", "--per-join", '{"gap": 5}',
                                          "--out", f"{t}/o.mp4"], ["--per-join", "list"], 1),
    # --- files ------------------------------------------------------------------------------------------
    ("image-missing", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/nope.png", "--frames", "16", "--out", f"{t}/o.mp4"],
     ["image 1", "nope.png", "does not exist"], 1),
    ("image-is-a-video", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/c0.mp4", "--frames", "16", "--out", f"{t}/o.mp4"],
     ["c0.mp4", "is a video"], 1),
    ("image-empty", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/empty.png", "--frames", "16", "--out", f"{t}/o.mp4"],
     ["empty.png", "empty file"], 1),
    ("image-corrupt", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/corrupt.png", "--frames", "16",
                                    "--out", f"{t}/o.mp4"], ["corrupt.png", "not a readable image"], 1),
    ("clip-corrupt", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/corrupt.mp4", "--out", f"{t}/o.mp4"],
     ["clip 1 (corrupt)", "corrupt.mp4"], 1),
    ("clip-truncated", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/truncated.mp4", "--out", f"{t}/o.mp4",
                                     "--server", DOWN], ["clip 1 (truncated)", "truncated.mp4"], 1),
    ("clip-cut-at-its-end", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/cut-end.mp4", "--out", f"{t}/o.mp4",
                                          "--server", DOWN], ["clip 1 (cut-end)", "cut-end.mp4", "truncated"], 1),
    ("clip-empty", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/empty.mp4", "--out", f"{t}/o.mp4"],
     ["empty.mp4", "empty file"], 1),
    ("clip-audio-only", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/sound.wav", "--out", f"{t}/o.mp4"],
     ["sound.wav", "only sound"], 1),
    ("clip-is-an-image", lambda d, t: ["join", f"{d}/c0.mp4", f"{d}/k0.png", "--out", f"{t}/o.mp4"],
     ["k0.png", "still image"], 1),
    ("extend-clip-missing", lambda d, t: ["extend", f"{d}/gone.mp4", "--frames", "20", "--out", f"{t}/o.mp4"],
     ["gone.mp4", "does not exist"], 1),
    ("extend-size", lambda d, t: ["extend", f"{d}/c0.mp4", "--frames", "20", "--size", "640x480",
                                  "--out", f"{t}/o.mp4"], ["--size 640x480", "clip's size"], 1),
    ("extend-to-missing", lambda d, t: ["extend", f"{d}/c0.mp4", "--frames", "20", "--to", f"{d}/gone.png",
                                        "--out", f"{t}/o.mp4"], ["keyframe 0", "gone.png"], 1),
    ("out-is-a-folder", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--out", str(d)],
     ["is a folder"], 1),
    # --- text -----------------------------------------------------------------------------------------------
    ("prompt-not-utf8", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--prompt",
                                      "caf\udce9", "--out", f"{t}/o.mp4"], ["prompts", "not UTF-8"], 1),
    ("prompt-very-long", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--prompt",
                                       "x" * 30_000, "--out", f"{t}/o.mp4", "--server", DOWN],
     ["30000 characters", "20000"], 1),
    # --- generators and recipes -----------------------------------------------------------------------
    ("generator-unknown", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--generator", "sdxl",
                                        "--out", f"{t}/o.mp4"], ["'sdxl'", "not a generator"], 1),
    ("wan-generator-without-server", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN,
                                                   "--out", f"{t}/o.mp4"], ["wan21-vace", "--server"], 1),
    ("wan-without-model-files", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--generator",
                                              "wan21-vace", "--out", f"{t}/o.mp4", "--server", DOWN], ["--unet"], 1),
    ("phases-bad-json", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--phases", "[{",
                                      "--out", f"{t}/o.mp4", "--server", DOWN], ["--phases", "not JSON"], 1),
    ("phases-file-missing", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--phases",
                                          f"{d}/none.json", "--out", f"{t}/o.mp4", "--server", DOWN],
     ["--phases", "none.json"], 1),
    ("phases-bad-end-step", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--steps", "6",
                                          "--phases", '[{"end_step": 9}, {}]', "--out", f"{t}/o.mp4", "--server", DOWN],
     ["phases[0].end_step=9"], 1),
    ("lora-without-name", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--lora", ":0.5",
                                        "--out", f"{t}/o.mp4", "--server", DOWN], ["loras[0]", "no LoRA file name"], 1),
    ("lora-strength-nan", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN, "--lora",
                                        "style.safetensors:nan", "--out", f"{t}/o.mp4", "--server", DOWN],
     ["strength=nan"], 1),
    ("lora-with-preview", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--lora",
                                        "style.safetensors", "--out", f"{t}/o.mp4"], ["loras", "wan generators"], 1),
    ("reference-missing", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", *WAN,
                                        "--reference-image", f"{d}/gone.png", "--out", f"{t}/o.mp4", "--server", DOWN],
     ["reference image 0", "gone.png"], 1),
    ("colour-match-unknown", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--colour-match",
                                           "warm", "--out", f"{t}/o.mp4"], ["--colour-match", "'warm'"], 1),
    # --- servers, export, run-only flags -----------------------------------------------------------------
    ("server-not-a-url", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--server",
                                       "ftp://x", "--out", f"{t}/o.mp4"], ["ftp://x", "not a server URL"], 1),
    ("export-into-a-file", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--export-prompts",
                                         f"{d}/k0.png", "--out", f"{t}/o.mp4"], ["--export-prompts", "is a file"], 1),
    ("detach-without-server", lambda d, t: ["travel", f"{d}/k0.png", f"{d}/k1.png", "--frames", "16", "--detach",
                                            "--out", f"{t}/o.mp4"], ["--detach", "--server"], 1),
    # --- plan files, refused before the (down) server is contacted ----------------------------------------
    ("plan-malformed", lambda d, t: ["run", plan_file(t, "p.json", '{"kind": "travel",, }'), "--server", DOWN],
     ["p.json", "not JSON", "line 1"], 1),
    ("plan-truncated", lambda d, t: ["run", plan_file(t, "p.json", json.dumps(travel_plan())[:40]), "--server", DOWN],
     ["p.json", "not JSON"], 1),
    ("plan-empty", lambda d, t: ["run", plan_file(t, "p.json", ""), "--server", DOWN], ["p.json", "is empty"], 1),
    ("plan-not-utf8", lambda d, t: ["run", f"{d}/not-utf8.json", "--server", DOWN], ["not UTF-8", "0xe9"], 1),
    ("plan-is-a-list", lambda d, t: ["run", plan_file(t, "p.json", [travel_plan()]), "--server", DOWN],
     ["JSON object", "list"], 1),
    ("plan-frames-wrong-type", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(images=[f"{d}/k0.png", f"{d}/k1.png"],
                                                                                        segment_frames="abc")),
                                             "--server", DOWN], ["segment_frames='abc'"], 1),
    ("plan-images-a-string", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(images=f"{d}/k0.png")),
                                           "--server", DOWN], ["images=", "must be a list"], 1),
    ("plan-seed-text", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(images=[f"{d}/k0.png", f"{d}/k1.png"],
                                                                               seed="x")), "--server", DOWN],
     ["seed='x'"], 1),
    ("plan-fps-text", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(images=[f"{d}/k0.png", f"{d}/k1.png"],
                                                                              fps="16")), "--server", DOWN],
     ["fps='16'", "number"], 1),
    ("plan-loop-text", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(images=[f"{d}/k0.png", f"{d}/k1.png"],
                                                                               loop="yes")), "--server", DOWN],
     ["loop='yes'", "true or false"], 1),
    ("plan-generator-number", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(generator=5)), "--server", DOWN],
     ["generator=5"], 1),
    ("plan-kind-unknown", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(kind="morph")), "--server", DOWN],
     ["kind='morph'"], 1),
    ("plan-version", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(segue_plan=2)), "--server", DOWN],
     ["segue_plan=2"], 1),
    ("plan-nan", lambda d, t: ["run", plan_file(t, "p.json", json.dumps(travel_plan()).replace('"overlap": 4',
                                                                                                '"overlap": NaN')),
                               "--server", DOWN], ["NaN", "finite number"], 1),
    ("plan-typo-key", lambda d, t: ["run", plan_file(t, "p.json", travel_plan(segment_frame=16)), "--server", DOWN],
     ["'segment_frame'", "did you mean 'segment_frames'"], 1),
    ("plan-no-images", lambda d, t: ["run", plan_file(t, "p.json", {"segue_plan": 1, "kind": "travel"}),
                                     "--server", DOWN], ["no 'images'"], 1),
    ("plan-per-join-unknown", lambda d, t: ["run", plan_file(t, "p.json", {
        "segue_plan": 1, "kind": "join", "clips": [f"{d}/c0.mp4", f"{d}/c1.mp4"], "context": 4, "gap": 9,
        "per_join": [{"style": "x"}], "output_dir": "runs"}), "--server", DOWN], ["unknown key 'style'"], 1),
    ("plan-missing-image", lambda d, t: ["run", plan_file(t, "p.json", travel_plan()), "--server", DOWN],
     ["image 0", "k0.png", "does not exist"], 1),
    ("plan-folder-empty", lambda d, t: ["run", str(Path(t).joinpath("none").mkdir() or Path(t) / "none"),
                                        "--server", DOWN], ["holds no plan files"], 1),
    ("plan-jsonl-two-bad-lines", lambda d, t: ["run", plan_file(t, "b.jsonl", "\n".join([
        json.dumps(travel_plan(images=[f"{d}/k0.png", f"{d}/k1.png"], segment_frames=0)),
        json.dumps(travel_plan(images=[f"{d}/k0.png", f"{d}/gone.png"]))])), "--server", DOWN],
     ["b.jsonl:1: ", "segment_frames", "b.jsonl:2: ", "gone.png"], 2),
    ("plan-batch-same-run-id", lambda d, t: [
        "run", plan_file(t, "a.json", travel_plan(run_id="same")), plan_file(t, "b.json", travel_plan(run_id="same")),
        "--server", DOWN], ["run_id 'same'", "a.json"], 1),
    ("run-id-with-a-batch", lambda d, t: [
        "run", plan_file(t, "a.json", travel_plan()), plan_file(t, "b.json", travel_plan()), "--run-id", "x",
        "--server", DOWN], ["--run-id", "batch"], 1),
    ("payload-without-images", lambda d, t: ["run", plan_file(t, "p.json", {"task_type": "travel_orchestrator",
                                                                            "params": {"orchestrator_details": {}}}),
                                             "--server", DOWN], ["input_image_paths_resolved"], 1),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_one_line_per_problem(case, media, tmp_path, capsys, monkeypatch):
    name, build, fragments, count = case
    monkeypatch.chdir(tmp_path)
    argv = build(media, tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (name, code, err)
    assert len(lines) == count and all(line.startswith("segue: error: ") for line in lines), (name, err)
    assert "Traceback" not in err and "unreachable" not in err, err
    for fragment in fragments:
        assert fragment in err, (name, fragment, err)
    assert not (tmp_path / "o.mp4").exists()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "segue_runs").exists()


def test_the_catalogue_has_at_least_40_distinct_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


def test_unknown_plan_keys_are_warnings_and_the_plan_still_runs(media, tmp_path, capsys):
    plan = plan_file(tmp_path, "p.json", travel_plan(images=[f"{media}/k0.png", f"{media}/k1.png"],
                                                     notes="from the storyboard", colour_grade="warm"))
    assert main(["run", plan, "--export-prompts", str(tmp_path / "prompts"), "--server", DOWN]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["segue: warning: p.json: travel plan key 'notes' is not a Segue setting and is ignored",
                   "segue: warning: p.json: travel plan key 'colour_grade' is not a Segue setting and is ignored"]
    assert (tmp_path / "prompts" / "seg_000.json").is_file()
