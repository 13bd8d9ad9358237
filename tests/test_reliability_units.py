"""The checks behind the bad-input, confinement and interrupt tests, without a ComfyUI: names
that are URLs, not UTF-8 or too long; hidden leftovers in folder listings; a crashed writer's
temporary file removed by the next write; the frame-memory limit; prompt limits; NaN
sharpening; damaged and truncated files read by name; a soundtrack without sound.
(The same behaviour through a real server: test_bad_inputs_comfyui.py and friends.)"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import node_prompts as NP  # noqa: E402

from segue.video_utils.core import parse  # noqa: E402
from segue.video_utils.core.folders import (Folders, PathError, check_relative, expand_folders, resolve_output)  # noqa: E402
from segue.video_utils.core import atomic  # noqa: E402
from segue.video_utils.engine.sound import check_soundtrack, fit_soundtrack  # noqa: E402
from segue.video_utils.core.step_settings import check_blend as check_options  # noqa: E402
from segue.video_utils.core.errors import PlanError  # noqa: E402
from segue.video_utils.core.lengths import MAX_STEP_MEMORY, check_generation_size, check_step_memory  # noqa: E402
from segue.video_utils.engine.video_read import iter_frames, read_frames, read_last_frames  # noqa: E402


@pytest.mark.parametrize("name,message", [
    ("http://example.com/a.mp4", "is a url"), ("file:///etc/passwd", "is a url"), ("s3://bucket/a.mp4", "is a url"),
    ("clip\ud800.mp4", "not utf-8"), ("clip\udcff.mp4", "not utf-8"), ("x" * 201, "limit of 200"),
    ("/".join(["d" * 100] * 11), "limit of 1024"), ("C:x.mp4", "absolute path"), ("a\x00b", "nul"),
])
def test_names_refused(name, message):
    with pytest.raises(PathError) as err:
        check_relative(name, "clip_files")
    assert message in str(err.value).lower() and "clip_files" in str(err.value)
    str(err.value).encode("utf-8")          # the message itself is printable anywhere


def test_names_accepted():
    assert check_relative("x" * 200, "f") == "x" * 200
    assert check_relative("shots/día 1/clip.mp4", "f") == "shots/día 1/clip.mp4"
    assert check_relative("ab:cd.mp4", "f") == "ab:cd.mp4"       # a colon is not a URL


def test_folder_listing_skips_hidden_files_and_crash_leftovers(tmp_path):
    folders = Folders(str(tmp_path / "in"), str(tmp_path / "out"), str(tmp_path / "tmp"))
    shots = tmp_path / "in" / "shots"
    shots.mkdir(parents=True)
    for name in ("b.mp4", "a.mp4", ".a.0badf00d.part.mp4", "._a.mp4"):
        (shots / name).write_bytes(b"x")
    assert expand_folders(["shots/"], folders, "clip_files", (".mp4",)) == ["shots/a.mp4 [input]",
                                                                            "shots/b.mp4 [input]"]


def test_the_next_write_of_a_target_removes_its_leftovers_only(tmp_path):
    target = tmp_path / "final.mp4"
    mine = atomic.temp_name(target)
    mine.write_bytes(b"half")                               # what a killed writer left
    other = atomic.temp_name(tmp_path / "other.mp4")
    other.write_bytes(b"another file's write in progress")
    lookalike = tmp_path / ".final.notatag.part.mp4"
    lookalike.write_bytes(b"not ours")
    atomic.write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not mine.exists() and other.exists() and lookalike.exists()
    assert atomic.is_temp_name(mine.name) and atomic.is_temp_name(other.name)


def test_a_dangling_link_is_never_written_through(tmp_path):
    folders = Folders(str(tmp_path / "in"), str(tmp_path / "out"), str(tmp_path / "tmp"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.mp4").symlink_to(tmp_path / "victim.mp4")
    with pytest.raises(PathError, match="is a link"):
        resolve_output("x", folders, "filename", suffix=".mp4")
    assert not (tmp_path / "victim.mp4").exists()


def test_frame_memory_limit():
    check_step_memory(832, 480, 1025, "travel segment 0")           # the longest Wan job at 480p fits
    check_step_memory(1280, 720, 81, "travel segment 0")
    with pytest.raises(PlanError, match=r"travel segment 3: 1025 frames at 1920x1088 need 55\.8 GiB"):
        check_step_memory(1920, 1088, 1025, "travel segment 3")
    assert MAX_STEP_MEMORY == 32 * 2 ** 30
    check_generation_size(32, 32, "travel segment 0")
    with pytest.raises(PlanError, match="join 0 transition would be generated at 16x48, too small"):
        check_generation_size(16, 48, "join 0 transition")
    # every step's count: the longest is checked and named; the size is checked too
    with pytest.raises(PlanError, match=r"join 1: 2049 frames"):
        check_step_memory(1280, 720, [81, 2049, 33], "join")
    with pytest.raises(PlanError, match="travel segment would be generated at 16x480, too small"):
        check_step_memory(16, 480, 81, "travel segment")
    check_step_memory(16, 480, 81, "delivered chunk", generated=False)


def test_prompt_limits():
    assert parse.prompt_text("a sunrise", "prompts") == "a sunrise"
    assert parse.prompt_text(None, "negative_prompt") == ""
    with pytest.raises(PlanError, match="prompts is not UTF-8"):
        parse.per_segment_text("a\ud800", 2, "prompts")
    with pytest.raises(PlanError, match="negative_prompt has 20001 characters"):
        parse.prompt_text("n" * 20001, "negative_prompt")


@pytest.mark.parametrize("sharpen", [float("nan"), float("inf"), -0.1, 1.5, 2.0])
def test_sharpen_must_be_a_number(sharpen):
    with pytest.raises(PlanError, match="sharpen="):
        check_options("cosine", sharpen)


@pytest.mark.parametrize("sharpen", [1.5, 2.0, -0.1])
def test_sharpen_has_one_range_on_every_path(sharpen):
    """The stitch's check, the run models' (plan files, the command line) and the nodes' widget
    all take 0..MAX_SHARPEN, and both checks say so the same way (input, value, fix)."""
    import json

    from segue.orchestration.runs.travel import TravelRun
    from segue.video_utils.core.constants import MAX_SHARPEN

    check_options("cosine", MAX_SHARPEN)
    with pytest.raises(PlanError) as stitch:
        check_options("cosine", sharpen)
    run = TravelRun(images=[], sharpen=sharpen)
    with pytest.raises(PlanError) as plan:
        run.check_common()
    assert str(stitch.value) == str(plan.value)
    assert f"sharpen={sharpen:g} is outside 0..{MAX_SHARPEN:g}: use a sharpening from 0" in str(plan.value)
    contract = json.loads((Path(__file__).parent / "node_contract.json").read_text())
    maxima = {cls: section["sharpen"][1]["max"] for cls, entry in contract.items()
              for section in entry["input"].values() if "sharpen" in section}
    assert maxima and set(maxima.values()) == {MAX_SHARPEN}, maxima


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    long_clip = NP.write_clip(folder / "long.mp4", frames=120)
    data = bytearray(long_clip.read_bytes())
    data[len(data) // 2:len(data) // 2 + 3000] = np.random.default_rng(1).bytes(3000)
    (folder / "corrupt.mp4").write_bytes(bytes(data))
    short = NP.write_clip(folder / "short.mp4", frames=20).read_bytes()
    (folder / "cut.mp4").write_bytes(short[: len(short) // 3])
    return folder


@pytest.mark.parametrize("read", [read_frames, lambda p: list(iter_frames(p)), lambda p: read_last_frames(p, 30)],
                         ids=["read_frames", "iter_frames", "read_last_frames"])
def test_a_damaged_middle_is_named(damaged, read):
    with pytest.raises(PlanError, match=r"corrupt\.mp4' cannot be decoded after \d+ frames .*damaged"):
        read(damaged / "corrupt.mp4")


def test_a_truncated_end_is_found_by_the_last_frames(damaged):
    """A file whose last packet is cut: read_last_frames must not return frames shifted by one."""
    assert read_last_frames(damaged / "long.mp4", 3).shape[0] == 3
    with pytest.raises(PlanError, match=r"cut\.mp4' ends at frame \d+ but holds \d+ frames: the file is truncated"):
        read_last_frames(damaged / "cut.mp4", 1)


def test_a_soundtrack_must_have_sound(tmp_path):
    silent = NP.write_clip(tmp_path / "silent.mp4", frames=8)
    picture = NP.write_image(tmp_path / "still.png", (10, 20, 30))
    for path in (silent, picture):
        with pytest.raises(PlanError, match="has no sound"):
            fit_soundtrack(path, Fraction(1))
    with pytest.raises(PlanError, match="does not exist"):
        check_soundtrack(tmp_path / "none.wav")
    sound = NP.write_sound(tmp_path / "tone.mp4")
    clip = fit_soundtrack(sound, Fraction(1, 2))
    assert clip.samples > 0
