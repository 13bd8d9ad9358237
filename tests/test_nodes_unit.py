"""The pure parts of the ComfyUI nodes: path confinement, widget parsing, and the graphs the
expanding nodes (SegueTravel, SegueJoinClips) hand to ComfyUI.

No ComfyUI needed: the path helpers take ComfyUI's folders as arguments, and the expansion graphs
come from the one builder (video_utils.core.chains, recipes in tests/test_chains.py).
"""

from __future__ import annotations

import os

import pytest

from segue.video_utils.core import parse
from segue.video_utils.core.folders import (Folders, PathError, check_relative, next_counter_name, resolve_input,
                                            resolve_output, result_entry, split_annotation, to_annotated)
from segue.video_utils.core.step_settings import EncodeSettings, JoinStepSettings, TravelStepSettings
from segue.video_utils.core.chains import SaveTo, Sources, Texts, join_graph, travel_graph
from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.prompt_graph import Graph
from segue.video_utils.core.recipe import Recipe, check_choice
from segue.video_utils.core.travel_plan import plan_travel


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
    assert parse.one_or_list([8]) == 8
    assert parse.one_or_list([8, 9]) == [8, 9]


def test_lines_and_per_segment_text():
    assert parse.lines("a.png\n\n  b.png  \n# comment\n", "images") == ["a.png", "b.png"]
    with pytest.raises(PlanError, match="images is empty"):
        parse.lines(" \n", "images")
    assert parse.lines("", "x", required=False) == []
    assert parse.per_segment_text("a\nb", 2, "prompts") == ["a", "b"]
    assert parse.per_segment_text("a", 3, "prompts") == ["a", "a", "a"]
    assert parse.per_segment_text("", 2, "prompts") == ["", ""]
    with pytest.raises(PlanError, match="prompts has 3 prompts but there are 2 segments: give one prompt"):
        parse.per_segment_text("a\nb\nc", 2, "prompts")
    with pytest.raises(PlanError, match="prompt has 2 prompts but there are 4 joins"):   # no repeating the last
        parse.per_segment_text("a\nb", 4, "prompt", "join")


@pytest.mark.parametrize("prompts,count", [(["a"], 3), (["a", "b", "c"], 3), (["a", "b"], 4), (["a", "b", "c"], 2)])
def test_node_lines_and_plan_files_share_one_prompt_rule(prompts, count):
    """A travel node's prompt lines and a plan file's prompts list give the same prompts (or the
    same refusal) for the same segment count."""
    from segue.orchestration.runs.travel import TravelRun

    def outcome(call):
        try:
            return call()
        except PlanError as e:
            return str(e)

    node = outcome(lambda: parse.per_segment_text("\n".join(prompts), count, "prompts"))
    plan = outcome(lambda: TravelRun(images=[], prompts=prompts).segment_prompts(count))
    assert node == plan
    assert isinstance(node, list) == (len(prompts) in (1, count))


def test_per_join_overrides():
    assert parse.per_join_overrides("") == []
    assert parse.per_join_overrides('[{"gap": 33}, null, {}]') == [{"gap": 33}, {}, {}]
    with pytest.raises(PlanError, match="per_join is not valid JSON"):
        parse.per_join_overrides("[{gap: 3}]")
    with pytest.raises(PlanError, match="must be a JSON list"):
        parse.per_join_overrides('{"gap": 3}')


def test_choices():
    assert check_choice("linear", ("cosine", "linear"), "curve") == "linear"
    with pytest.raises(PlanError, match="curve='sine' is not one of cosine, linear"):
        check_choice("sine", ("cosine", "linear"), "curve")


# --- expansion graphs ------------------------------------------------------------------------------

KEYFRAMES = ["user_keys", 0]                 # the user's Segue Load Images, outside the expansion
ENCODE = EncodeSettings("cosine", 0.0, 19, "fast", filename_prefix="segue/travel")


def of(g: Graph, cls: str) -> list[tuple[str, dict]]:
    return [(k, n) for k, n in g.nodes.items() if n["class_type"] == cls]


def expand_travel(plan, mode="chained", recipe=None, sources=Sources(), folder="temp"):
    """What SegueTravel.execute builds (nodes/travel_nodes.py) for ``plan``."""
    n = len(plan.segments)
    g = Graph()
    video = travel_graph(g, TravelStepSettings("18", "4", mode, plan.exact_keyframes, loop=plan.loop),
                         plan.segments, plan.overlaps, recipe or Recipe(), sources,
                         Texts(("",) * n, ("",) * n), KEYFRAMES, [SaveTo("", folder)] * n, ENCODE, 16.0)
    return g, video


def test_travel_expansion_chains_through_the_saved_files():
    plan = plan_travel(4, 18, 4, "chained", exact_keyframes=True)
    g, video = expand_travel(plan)
    steps, saves, lists = of(g, "SegueTravelStep"), of(g, "SeguePreviewStep"), of(g, "SegueFileList")
    assert len(steps) == len(saves) == len(lists) == 3
    assert "previous_video" not in g.nodes["seg_000.step"]["inputs"]
    for i in (1, 2):  # each chained step reads the previous SAVED file (a file-backed VIDEO), not frames in RAM
        assert g.nodes[f"seg_{i:03d}.step"]["inputs"]["previous_video"] == [f"seg_{i - 1:03d}.save", 0]
    for i, seg in enumerate(plan.segments):
        step = g.nodes[f"seg_{i:03d}.step"]["inputs"]
        assert step["keyframes"] == KEYFRAMES and step["segment_index"] == i and step["exact_keyframes"] is True
        save = g.nodes[f"seg_{i:03d}.save"]["inputs"]
        # the saver trims by its step (segment 0's lead-in), writes a fresh name in temp/
        assert save["step"] == [f"seg_{i:03d}.step", 0] and (save["filename"], save["folder"]) == ("", "temp")
    assert plan.segments[0].trim_start > 0
    assert g.nodes["seg_000.list"]["inputs"] == {"video": ["seg_000.save", 0]}
    assert g.nodes["seg_002.list"]["inputs"] == {"video": ["seg_002.save", 0], "files": ["seg_001.list", 0]}
    stitch = g.nodes["stitch"]["inputs"]
    assert video == ["stitch", 0] and stitch["segment_files"] == ["seg_002.list", 0]
    assert stitch["overlaps"] == ", ".join(map(str, plan.overlaps)) and stitch["trim_start"] == 0
    assert (stitch["filename"], stitch["filename_prefix"], stitch["fps"]) == ("", "segue/travel", 16.0)
    assert not of(g, "KSampler") and not of(g, "UNETLoader")


def test_travel_expansion_independent_has_no_previous_and_keep_segments_writes_to_output():
    plan = plan_travel(3, 20, 4, "independent")
    g, _ = expand_travel(plan, "independent", folder="output")
    assert all("previous_video" not in n["inputs"] for _, n in of(g, "SegueTravelStep"))
    assert {n["inputs"]["folder"] for _, n in of(g, "SeguePreviewStep")} == {"output"}


def test_loop_expansion_closes_on_segment_0s_file():
    plan = plan_travel(3, 16, 4, "chained", loop=True)
    g, _ = expand_travel(plan)
    closing = g.nodes["seg_002.step"]["inputs"]
    assert closing["loop"] is True and closing["first_video"] == ["seg_000.save", 0]
    assert closing["previous_video"] == ["seg_001.save", 0]
    assert all("first_video" not in g.nodes[f"seg_00{i}.step"]["inputs"] for i in (0, 1))


def test_wan_expansion_wires_the_users_loaders_in():
    plan = plan_travel(3, 20, 4, "chained")
    src = Sources(model=["unet", 0], model_low=["unet_low", 0], vae=["vae", 0], positive=["pos", 0],
                  negative=["neg", 0])
    g, _ = expand_travel(plan, recipe=Recipe(kind="wan-vace", steps=6, shift=8.0, seed=7), sources=src)
    patches = of(g, "ModelSamplingSD3")   # one per expert, shared by both segments
    assert sorted(p["inputs"]["model"][0] for _, p in patches) == ["unet", "unet_low"]
    assert not of(g, "CLIPTextEncode")
    assert all(n["inputs"]["positive"] == ["pos", 0] for _, n in of(g, "SegueVaceEncode"))
    assert [g.nodes[f"seg_00{i}.sample_0"]["inputs"]["noise_seed"] for i in (0, 1)] == [7, 8]
    assert g.nodes["seg_001.save"]["inputs"]["vae"] == ["vae", 0]
    assert not [k for k in g.nodes if k in ("unet", "unet_low", "vae", "pos", "neg")]   # never copied in


def test_join_expansion():
    names = ["c0 [output]", "c1.mp4 [input]", "c2 [output]"]
    settings = JoinStepSettings(6, 13, True, -1, '[{"gap": 15}]', True, 64, 48, "stretch", fps=24.0)
    g = Graph()
    video = join_graph(g, settings, 2, Recipe(saturation=0.9), Sources(), Texts(("a", "b"), ("", "")), names,
                       [SaveTo("", "temp")] * 2, EncodeSettings(filename_prefix="segue/join"), True)
    for j in (0, 1):
        step = g.nodes[f"join_00{j}.step"]["inputs"]
        assert step["join_index"] == j and step["clip_files"] == "\n".join(names)
        assert (step["context"], step["gap"], step["replace"], step["blend"], step["per_join"]) == \
               (6, 13, True, -1, '[{"gap": 15}]')
        assert (step["bridging"], step["width"], step["height"], step["fit"]) == (True, 64, 48, "stretch")
        save = g.nodes[f"join_00{j}.save"]["inputs"]
        assert save["step"] == [f"join_00{j}.step", 0] and save["saturation"] == 0.9   # every transition
    asm = g.nodes["assemble"]["inputs"]
    assert video == ["assemble", 0]
    assert asm["clip_files"] == "\n".join(names) and asm["transition_files"] == ["join_001.list", 0]
    assert (asm["context"], asm["gap"], asm["replace"], asm["blend"], asm["per_join"]) == \
           (6, 13, True, -1, '[{"gap": 15}]')
    assert (asm["fps"], asm["keep_audio"], asm["filename_prefix"]) == (24.0, True, "segue/join")
    assert (asm["width"], asm["height"], asm["fit"]) == (64, 48, "stretch")      # the output size
    assert "bridging" not in asm and "work_width" not in asm                     # the generation's own
