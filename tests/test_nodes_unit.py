"""The pure parts of the ComfyUI nodes: path confinement, widget parsing, expansion graphs.

No ComfyUI needed: these modules take ComfyUI's folders as arguments and describe expansion
graphs through any builder with ``node(class_type, id=None, **inputs)``.
"""

from __future__ import annotations

import os

import pytest

from segue.nodes import parse
from segue.nodes.graphs import Conditioning, Generator, Sampling, TravelFiles, join_graph, travel_graph
from segue.nodes.paths import (Folders, PathError, check_relative, next_counter_name, resolve_input,
                               resolve_output, result_entry, split_annotation, to_annotated)
from segue.video_utils.errors import PlanError
from segue.video_utils.join_plan import plan_join
from segue.video_utils.travel_plan import plan_travel


@pytest.fixture
def folders(tmp_path):
    f = Folders(input=str(tmp_path / "input"), output=str(tmp_path / "output"), temp=str(tmp_path / "temp"))
    for d in (f.input, f.output, f.temp):
        os.makedirs(d)
    return f


def touch(path, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


# --- annotated names and containment ------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("clip.mp4", ("clip.mp4", "input")),
    ("segue/run1/seg_000.mkv [output]", ("segue/run1/seg_000.mkv", "output")),
    ("a b.png [temp]", ("a b.png", "temp")),
    ("x.png[input]", ("x.png", "input")),
    ("x [weird].png", ("x [weird].png", "input")),
])
def test_split_annotation(name, expected):
    assert split_annotation(name) == expected


@pytest.mark.parametrize("bad", ["/etc/passwd", "\\\\server\\share\\x.png", "C:\\x.png", "c:x.png", "~/x.png",
                                 "../x.png", "a/../../x.png", "a\\..\\x.png", "a/./../x", "x\x00.png", "", "   ",
                                 "./", "."])
def test_check_relative_refuses(bad):
    with pytest.raises(PathError) as err:
        check_relative(bad, "video")
    assert "video" in str(err.value)


def test_check_relative_normalises():
    assert check_relative("a//b/./c.mkv", "f") == "a/b/c.mkv"
    assert check_relative("a\\b.mkv", "f") == "a/b.mkv"


def test_resolve_input_reads_each_folder(folders):
    touch(os.path.join(folders.input, "k", "a.png"))
    touch(os.path.join(folders.output, "segue", "seg.mkv"))
    touch(os.path.join(folders.temp, "t.mkv"))
    assert resolve_input("k/a.png", folders, "images") == os.path.realpath(os.path.join(folders.input, "k", "a.png"))
    assert resolve_input("segue/seg.mkv [output]", folders, "v").endswith("output/segue/seg.mkv")
    assert resolve_input("t.mkv [temp]", folders, "v").endswith("temp/t.mkv")


def test_resolve_input_errors_name_the_input(folders):
    with pytest.raises(PathError, match=r"images='missing.png' was not found in ComfyUI's input/"):
        resolve_input("missing.png", folders, "images")
    touch(os.path.join(folders.input, "a.txt"))
    with pytest.raises(PathError, match="unsupported extension"):
        resolve_input("a.txt", folders, "images", extensions=(".png",))
    with pytest.raises(PathError, match="absolute path"):
        resolve_input(os.path.join(folders.input, "a.txt"), folders, "images")
    with pytest.raises(PathError, match=r"'\.\.'"):
        resolve_input("../output/a.txt", folders, "images")


def test_symlink_escape_is_refused_for_reading(folders, tmp_path):
    secret = touch(str(tmp_path / "secret.png"))
    os.symlink(secret, os.path.join(folders.input, "innocent.png"))
    os.symlink(str(tmp_path), os.path.join(folders.input, "linkdir"))
    with pytest.raises(PathError, match="outside ComfyUI's input/ folder"):
        resolve_input("innocent.png", folders, "images")
    with pytest.raises(PathError, match="outside"):
        resolve_input("linkdir/secret.png", folders, "images")
    # a link that stays inside the folder is fine
    touch(os.path.join(folders.input, "real.png"))
    os.symlink(os.path.join(folders.input, "real.png"), os.path.join(folders.input, "alias.png"))
    assert resolve_input("alias.png", folders, "images").endswith("input/real.png")


def test_resolve_output_creates_parents_and_adds_suffix(folders):
    path, kind, rel = resolve_output("segue/run1/seg_000", folders, "filename", suffix=".mkv")
    assert (kind, rel) == ("output", "segue/run1/seg_000.mkv")
    assert path == os.path.join(os.path.realpath(folders.output), "segue", "run1", "seg_000.mkv")
    assert os.path.isdir(os.path.dirname(path))
    _, _, rel = resolve_output("segue/x.MKV", folders, "filename", suffix=".mkv")
    assert rel == "segue/x.MKV"
    _, kind, rel = resolve_output("a/b [temp]", folders, "filename", suffix=".mp4")
    assert (kind, rel) == ("temp", "a/b.mp4")


def test_resolve_output_refuses_escapes(folders, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(folders.output, "escape"))
    with pytest.raises(PathError, match="through a link"):
        resolve_output("escape/new/seg", folders, "filename", suffix=".mkv")
    assert not (outside / "new").exists()  # nothing was created outside
    with pytest.raises(PathError, match="writes into input/"):
        resolve_output("x [input]", folders, "filename")
    for bad in ("/tmp/x", "../x", "a/../../x", "x\x00y"):
        with pytest.raises(PathError):
            resolve_output(bad, folders, "filename")
    with pytest.raises(PathError, match="names a folder"):
        resolve_output("segue/", folders, "filename")
    # an existing symlink as the target file is refused too (a later rename would replace the link)
    os.symlink(str(outside / "f.mkv"), os.path.join(folders.output, "f.mkv"))
    with pytest.raises(PathError, match="link or a folder"):
        resolve_output("f", folders, "filename", suffix=".mkv")


def test_to_annotated_round_trip(folders, tmp_path):
    p = touch(os.path.join(folders.output, "segue", "r", "seg_001.mkv"))
    name = to_annotated(p, folders)
    assert name == "segue/r/seg_001.mkv [output]"
    assert resolve_input(name, folders, "v") == os.path.realpath(p)
    assert to_annotated(touch(os.path.join(folders.input, "c.mp4")), folders) == "c.mp4 [input]"
    with pytest.raises(PathError, match="not inside"):
        to_annotated(touch(str(tmp_path / "x.mp4")), folders)


def test_result_entry_and_counter():
    assert result_entry("segue/r/final.mp4", "output", frames=3) == {
        "filename": "final.mp4", "subfolder": "segue/r", "type": "output", "frames": 3}
    assert result_entry("x.mkv", "temp") == {"filename": "x.mkv", "subfolder": "", "type": "temp"}
    assert next_counter_name("travel", []) == 1
    assert next_counter_name("travel", ["travel_00001", "travel_00007", "travel_x", "other_00009",
                                        "travel_00003_.mp4", "travelling_00020"]) == 8


# --- widget parsing --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("80", [80]), (" 80, 64 ,80 ", [80, 64, 80]), ("80 64", [80, 64]), ("[8, 10]", [8, 10]),
    ("8;9", [8, 9]), (12, [12]), ("8,\n10", [8, 10]),
])
def test_int_list(text, expected):
    assert parse.int_list(text, "overlap") == expected


@pytest.mark.parametrize("text, match", [
    ("", "overlap is empty"), ("8, x", r"'x' is not a whole number"), ("8.5", "not a whole number"),
    (True, "must be whole numbers"),
])
def test_int_list_errors(text, match):
    with pytest.raises(PlanError, match=match):
        parse.int_list(text, "overlap")


def test_int_list_minimum_and_scalar():
    with pytest.raises(PlanError, match="-1 is below the minimum 0"):
        parse.int_list("4, -1", "overlap", minimum=0)
    assert parse.scalar_or_list([8]) == 8
    assert parse.scalar_or_list([8, 9]) == [8, 9]


def test_lines_and_per_segment_text():
    assert parse.lines("a.png\n\n  b.png  \n# comment\n", "images") == ["a.png", "b.png"]
    with pytest.raises(PlanError, match="images is empty"):
        parse.lines(" \n", "images")
    assert parse.lines("", "x", required=False) == []
    assert parse.per_segment_text("a\nb", 4, "prompts") == ["a", "b", "b", "b"]
    assert parse.per_segment_text("", 2, "prompts") == ["", ""]
    with pytest.raises(PlanError, match="prompts has 3 lines but there are only 2 segments"):
        parse.per_segment_text("a\nb\nc", 2, "prompts")


def test_per_join_overrides():
    assert parse.per_join_overrides("") == []
    assert parse.per_join_overrides('[{"gap": 33}, null, {}]') == [{"gap": 33}, {}, {}]
    with pytest.raises(PlanError, match="per_join is not valid JSON"):
        parse.per_join_overrides("[{gap: 3}]")
    with pytest.raises(PlanError, match="must be a JSON list"):
        parse.per_join_overrides('{"gap": 3}')


def test_seeds_and_choices():
    assert parse.segment_seeds(5, 3, "fixed") == [5, 5, 5]
    assert parse.segment_seeds(5, 3, "increment") == [5, 6, 7]
    assert parse.segment_seeds(2 ** 64 - 1, 2, "increment") == [2 ** 64 - 1, 0]
    with pytest.raises(PlanError, match="seed_policy='random'"):
        parse.segment_seeds(1, 2, "random")
    with pytest.raises(PlanError, match="curve='sine' is not one of cosine, linear"):
        parse.check_choice("sine", ("cosine", "linear"), "curve")


def test_frame_selection():
    assert parse.frame_selection(5, 16, 16) == [0, 1, 2, 3, 4]
    # 32 -> 16 fps keeps every other frame, duration kept
    assert parse.frame_selection(8, 32, 16) == [0, 2, 4, 6]
    # 8 -> 16 fps shows every frame twice
    assert parse.frame_selection(4, 8, 16) == [0, 0, 1, 1, 2, 2, 3, 3]
    # NTSC 30000/1001 -> 16: duration within one output frame, indices sorted and in range
    sel = parse.frame_selection(300, 30000 / 1001, 16)
    assert abs(len(sel) / 16 - 300 / (30000 / 1001)) < 1 / 16
    assert sel == sorted(sel) and sel[0] == 0 and sel[-1] <= 299
    assert parse.frame_selection(1, 30, 16) == [0]
    with pytest.raises(PlanError):
        parse.frame_selection(0, 16, 16)


# --- expansion graphs ------------------------------------------------------------------------------

class FakeNode:
    def __init__(self, nid, class_type, inputs):
        self.id, self.class_type, self.inputs = nid, class_type, inputs

    def out(self, index):
        return [self.id, index]


class FakeBuilder:
    """Same contract as ComfyUI's GraphBuilder (ids de-duplicate)."""

    def __init__(self):
        self.nodes = {}
        self.counter = 0

    def node(self, class_type, id=None, **inputs):
        if id is None:
            self.counter += 1
            id = f"n{self.counter}"
        if id not in self.nodes:
            self.nodes[id] = FakeNode(id, class_type, inputs)
        return self.nodes[id]

    def of(self, class_type):
        return [n for n in self.nodes.values() if n.class_type == class_type]


SETTINGS = {"segment_frames": "16", "overlap": "4", "mode": "chained", "exact_keyframes": False,
            "strength": 1.0, "desaturate": 0.0, "darken": 0.0}


def test_travel_graph_preview_chains_through_files():
    plan = plan_travel(4, 18, 4, "chained", exact_keyframes=True)
    g = FakeBuilder()
    files = TravelFiles(tuple(f"run/seg_{i:03d} [output]" for i in range(3)), "run/final [output]")
    video = travel_graph(g, plan, ["kf", 0], SETTINGS, Generator("preview", method="blend"), None, [1, 2, 3],
                         files, 16.0, {"curve": "cosine", "sharpen": 0.0, "crf": 19, "preset": "fast"})
    guides, saves, checks, lists = (g.of(c) for c in ("SegueTravelGuide", "SegueSaveSegment", "SegueCheckFrames",
                                                         "SegueFileList"))
    assert len(guides) == len(saves) == len(checks) == len(lists) == 3
    assert "previous_video" not in guides[0].inputs
    for i in (1, 2):  # each chained guide reads the previous SAVED file (lazy VIDEO), not frames in RAM
        assert guides[i].inputs["previous_video"] == saves[i - 1].out(0)
    for seg, check, save in zip(plan.segments, checks, saves):
        assert check.inputs["expected_frames"] == seg.generate_frames
        assert check.inputs["trim_start"] == seg.trim_start
        assert save.inputs["images"] == check.out(0) and save.inputs["trim_start"] == 0
        assert save.inputs["expected_frames"] == seg.generate_frames - seg.trim_start
    assert plan.segments[0].trim_start > 0  # exact keyframes: the lead-in is trimmed before saving
    assert [s.inputs["filename"] for s in saves] == list(files.segment_stems)
    assert lists[0].inputs == {"video": saves[0].out(0)}
    assert lists[2].inputs["files"] == lists[1].out(0)
    (stitch,) = g.of("SegueStitchFiles")
    assert video == stitch.out(0)
    assert stitch.inputs["segment_files"] == lists[2].out(0)
    assert stitch.inputs["overlaps"] == ", ".join(map(str, plan.overlaps))
    assert stitch.inputs["trim_start"] == 0 and stitch.inputs["filename"] == "run/final [output]"
    assert all(p.inputs["method"] == "blend" for p in g.of("SeguePreviewGenerator"))
    assert not g.of("KSampler")


def test_travel_graph_independent_has_no_previous():
    plan = plan_travel(3, 20, 4, "independent")
    g = FakeBuilder()
    files = TravelFiles(("a", "b"), "f")
    travel_graph(g, plan, ["kf", 0], dict(SETTINGS, mode="independent"), Generator("preview"), None, [0, 0],
                 files, 16.0, {})
    assert all("previous_video" not in n.inputs for n in g.of("SegueTravelGuide"))


def test_travel_graph_wan_two_experts():
    plan = plan_travel(3, 20, 4, "chained")
    g = FakeBuilder()
    gen = Generator("wan", model=["unet", 0], vae=["vae", 0], model_low_noise=["unet_low", 0],
                    sampling=Sampling(steps=6, cfg=3.0, shift=8.0, split_step=0))
    cond = Conditioning(clip=["clip", 0], prompts=("walk", "run"), negative_prompt="blur")
    travel_graph(g, plan, ["kf", 0], SETTINGS, gen, cond, [7, 8], TravelFiles(("a", "b"), "f"), 16.0, {})
    # one ModelSamplingSD3 per expert, shared by both segments
    patches = g.of("ModelSamplingSD3")
    assert sorted(p.inputs["model"][0] for p in patches) == ["unet", "unet_low"]
    assert all(p.inputs["shift"] == 8.0 for p in patches)
    encodes = {n.inputs["text"] for n in g.of("CLIPTextEncode")}
    assert encodes == {"walk", "run", "blur"}
    vaces, samplers = g.of("WanVaceToVideo"), g.of("KSamplerAdvanced")
    assert len(vaces) == 2 and len(samplers) == 4 and not g.of("KSampler")
    guide = g.of("SegueTravelGuide")[0]
    assert vaces[0].inputs["length"] == guide.out(2) and vaces[0].inputs["control_masks"] == guide.out(1)
    high, low = samplers[0], samplers[1]
    assert (high.inputs["start_at_step"], high.inputs["end_at_step"]) == (0, 3)
    assert high.inputs["add_noise"] == "enable" and high.inputs["return_with_leftover_noise"] == "enable"
    assert (low.inputs["start_at_step"], low.inputs["end_at_step"]) == (3, 10000)
    assert low.inputs["latent_image"] == high.out(0) and low.inputs["add_noise"] == "disable"
    assert high.inputs["noise_seed"] == 7 and samplers[2].inputs["noise_seed"] == 8
    trim = g.of("TrimVideoLatent")[0]
    assert trim.inputs["trim_amount"] == vaces[0].out(3) and trim.inputs["samples"] == low.out(0)
    decode = g.of("VAEDecode")[0]
    assert g.of("SegueCheckFrames")[0].inputs["images"] == decode.out(0)


def test_travel_graph_wan_single_model_with_conditioning_links():
    plan = plan_travel(2, 16, 4)
    g = FakeBuilder()
    gen = Generator("wan", model=["unet", 0], vae=["vae", 0], sampling=Sampling(shift=0.0))
    cond = Conditioning(positive=["pos", 0], negative=["neg", 0])
    travel_graph(g, plan, ["kf", 0], SETTINGS, gen, cond, [3], TravelFiles(("a",), "f"), 16.0, {})
    (sampler,) = g.of("KSampler")
    assert sampler.inputs["model"] == ["unet", 0] and sampler.inputs["seed"] == 3  # shift 0: no patch
    assert not g.of("ModelSamplingSD3") and not g.of("CLIPTextEncode")
    assert g.of("WanVaceToVideo")[0].inputs["positive"] == ["pos", 0]


def test_join_graph_windows_match_the_plan():
    plan = plan_join([40, 30, 50], context=6, gap=13, replace=True)
    g = FakeBuilder()
    names = ["c0 [output]", "c1.mp4 [input]", "c2 [output]"]
    video = join_graph(g, plan, names, Generator("preview"), None, [0, 1], ["t0", "t1"], "final", 16.0, True,
                       {"context": 6, "gap": 13, "replace": True, "blend": -1, "per_join": "", "crf": 19,
                        "preset": "fast", "keep_audio": True})
    loads = g.of("SegueLoadVideo")
    assert len(loads) == 4
    for spec in plan.joins:
        a, b = loads[2 * spec.index], loads[2 * spec.index + 1]
        assert a.inputs["video"] == names[spec.index] and b.inputs["video"] == names[spec.index + 1]
        assert a.inputs["start"] == spec.context_a_start
        assert a.inputs["frame_count"] == spec.context_frames_a + spec.trim_from_a
        assert b.inputs["start"] == 0 and b.inputs["frame_count"] == spec.context_b_start + spec.context_frames_b
        # the guide re-plans from these windows: the same transition comes out
        window = plan_join([a.inputs["frame_count"], b.inputs["frame_count"]], context=spec.context_frames_a,
                           gap=spec.gap_frames, replace=spec.replace).joins[0]
        assert (window.transition_frames, window.gap_frames, window.context_a_start) == \
               (spec.transition_frames, spec.gap_frames, 0)
        assert window.context_b_start == spec.context_b_start
    assert [c.inputs["expected_frames"] for c in g.of("SegueCheckFrames")] == [j.transition_frames for j in plan.joins]
    assert all(gd.inputs["bridging"] is True for gd in g.of("SegueJoinGuide"))
    (assemble,) = g.of("SegueJoinAssembleFiles")
    assert video == assemble.out(0)
    assert assemble.inputs["clip_files"] == "\n".join(names)
    assert assemble.inputs["transition_files"] == g.of("SegueFileList")[-1].out(0)
