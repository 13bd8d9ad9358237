"""Every file a Segue node reads or writes stays inside ComfyUI's input/, output/ and temp/
folders, tested through a real ComfyUI's ``/prompt`` (anyone who reaches the server can send
any name to any node).

For every reading input (file names, lists, folder listings, soundtrack, template) and every
writing input (filename, filename_prefix) the same escapes are tried: ``..``, absolute POSIX and
Windows paths (drive, UNC), ``~``, NUL, URLs, and symlinks inside the folders that point outside
(a file link, a folder link, a folder listing through a linked folder, a listed folder holding
a link, a linked output folder, a dangling link as the write target).  Each must be refused by
name, nothing may appear outside (the link targets' folder is compared before and after) and
nothing is written inside either.  Annotated names (``x [output]``, ``x [temp]``) and links that
stay inside are accepted.  A last test reads the pack's source: no shell, no subprocess, no
network library in the nodes.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import node_prompts as NP  # noqa: E402

from segue.video_utils.core.probe import probe  # noqa: E402

pytestmark = pytest.mark.comfyui

REPO = Path(__file__).resolve().parents[1]
C = "conf"                         # this file's subfolder of input/, output/ and temp/

# (node, input, file extension it reads, lists folders?)
READERS = [
    ("SegueLoadImages", "images", ".png", True),
    ("SegueLoadVideo", "video", ".mp4", False),
    ("SegueJoinClips", "clip_files", ".mp4", True),
    ("SegueJoinStep", "clip_files", ".mp4", False),
    ("SegueJoinAssembleFiles", "clip_files", ".mp4", False),
    ("SegueJoinAssembleFiles", "transition_files", ".mp4", False),
    ("SegueStitchFiles", "segment_files", ".mp4", False),
    ("SegueStitchFiles", "soundtrack", ".mp4", False),
    ("SegueTravel", "soundtrack", ".mp4", False),
    ("SegueExtendClip", "clip_file", ".mp4", False),
    ("SegueExtendStep", "clip_file", ".mp4", False),
    ("SegueExtendStep", "previous_files", ".mp4", False),
    ("SegueExtendAssemble", "clip_file", ".mp4", False),
    ("SegueExtendAssemble", "segment_files", ".mp4", False),
    ("SegueRecipe", "template", ".json", False),
]
# (node, input, exact name (True) or counter prefix (False))
WRITERS = [
    ("SegueSaveSegment", "filename", True),
    ("SegueSaveVideo", "filename_prefix", False),
    ("SegueSaveStep", "filename", True),
    ("SeguePreviewStep", "filename", True),
    ("SegueStitchFiles", "filename", True),
    ("SegueStitchFiles", "filename_prefix", False),
    ("SegueJoinAssembleFiles", "filename", True),
    ("SegueJoinAssembleFiles", "filename_prefix", False),
    ("SegueExtendAssemble", "filename", True),
    ("SegueExtendAssemble", "filename_prefix", False),
    ("SegueTravel", "filename_prefix", False),
    ("SegueJoinClips", "filename_prefix", False),
    ("SegueExtendClip", "filename_prefix", False),
]


def reader_names(ext: str, lists: bool, outside: Path) -> list[tuple[str, str]]:
    """(name, fragment the refusal must contain)."""
    names = [
        (f"../x{ext}", "'..'"), (f"{C}/../../x{ext}", "'..'"), (str(outside / f"a{ext}"), "absolute path"),
        (f"~/x{ext}", "absolute path"), (f"a\x00b{ext}", "nul"), (f"C:\\x{ext}", "absolute path"),
        (f"C:x{ext}", "absolute path"), (f"\\\\server\\share\\x{ext}", "absolute path"),
        (f"http://example.com/a{ext}", "is a url"), ("file:///etc/passwd", "is a url"),
        (f"{C}/link{ext}", "resolves outside"), (f"{C}/linkdir/a{ext}", "resolves outside"),
        (f"{C}/link{ext} [output]", "resolves outside"), (f"conf_linkdir/a{ext} [temp]", "resolves outside"),
    ]
    if lists:
        names += [(f"{C}/linkdir/", "not a folder inside"), (f"{C}/mixed/", "resolves outside"),
                  ("conf_linkdir/ [output]", "not a folder inside")]
    return names


def writer_names(exact: bool, outside: Path) -> list[tuple[str, str]]:
    names = [
        ("../w", "'..'"), (f"{C}/../../w", "'..'"), (str(outside / "w"), "absolute path"), ("~/w", "absolute path"),
        ("a\x00b", "nul"), ("C:\\w", "absolute path"), ("C:w", "absolute path"), ("\\\\server\\share\\w", "absolute path"),
        ("http://example.com/w", "is a url"), ("conf_linkdir/w", "resolves outside"),
        ("conf_linkdir/w [temp]", "resolves outside" if exact else "temp/ folder"),
        ("w [input]", "writes into input/" if exact else "input/ folder"),
    ]
    names += [(f"{C}/dangling", "is a link")] if exact else [(f"{C}/sub/", "names a folder")]
    return names


@pytest.fixture(scope="module")
def world(comfy_server, tmp_path_factory):
    """Media, plus links inside ComfyUI's folders that lead to ``outside`` (a folder no node may
    touch), and an annotated copy of a clip in output/ and temp/."""
    m = NP.media(comfy_server.input_dir)
    outside = tmp_path_factory.mktemp("outside")
    bad = comfy_server.input_dir / NP.SUB
    (outside / "sub").mkdir()
    for target in (outside, outside / "sub"):
        for name in ("a.mp4", "b.mp4"):
            shutil.copyfile(bad / name, target / name)
        shutil.copyfile(bad / "k0.png", target / "a.png")
        shutil.copyfile(bad / "k1.png", target / "b.png")
        (target / "a.json").write_text("{}")
    conf_in = comfy_server.input_dir / C
    (conf_in / "mixed").mkdir(parents=True, exist_ok=True)
    for ext, source in ((".mp4", "a.mp4"), (".png", "k0.png"), (".json", None)):
        link = conf_in / f"link{ext}"
        if not link.is_symlink():
            link.symlink_to(outside / f"a{ext}")
        if source:
            shutil.copyfile(bad / source, conf_in / "mixed" / f"1{ext}")
            if not (conf_in / "mixed" / f"2{ext}").is_symlink():
                (conf_in / "mixed" / f"2{ext}").symlink_to(outside / f"b{ext}")
    links = [(conf_in / "linkdir", outside / "sub"),
             (comfy_server.output_dir / "conf_linkdir", outside / "sub"),
             (comfy_server.base / "temp" / "conf_linkdir", outside / "sub"),
             (comfy_server.output_dir / C / "dangling.mkv", outside / "nothing.mkv"),
             (comfy_server.output_dir / C / "dangling.mp4", outside / "nothing.mp4"),
             *[(comfy_server.output_dir / C / f"link{ext}", outside / f"a{ext}") for ext in (".mp4", ".png", ".json")],
             (conf_in / "inside.mp4", bad / "a.mp4")]            # stays inside: allowed
    for link, target in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=target.is_dir())
    for kind in ("output", "temp"):
        folder = comfy_server.base / kind / C
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bad / "a.mp4", folder / "ann.mp4")
    return m, outside


def snapshot(path: Path) -> dict:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()}


def refused_by_name(comfy_server, prompt: dict, fragment: str, label: str) -> NP.Outcome:
    got = NP.outcome(comfy_server, prompt)
    assert got.kind in ("refused", "failed"), f"{label}: {got.kind}"
    assert fragment in got.text.lower(), f"{label}: {fragment!r} not in {got.text[:600]!r}"
    if got.kind == "failed":
        assert str(got.reply.get("exception_type", "")).endswith(("PathError", "PlanError")), (label, got.reply)
    return got


def with_input(node: str, m: dict, field: str, value: str) -> dict:
    extra = {"generator": "template"} if node == "SegueRecipe" else {}
    return NP.BUILDERS[node](m, **extra, **{field: value})


@pytest.mark.parametrize("node,field,ext,lists", READERS, ids=[f"{n}.{f}" for n, f, _, _ in READERS])
def test_readers_stay_inside(comfy_server, world, node, field, ext, lists):
    m, outside = world
    before_out, before_in = snapshot(outside), NP.listing(comfy_server)
    for name, fragment in reader_names(ext, lists, outside):
        refused_by_name(comfy_server, with_input(node, m, field, name), fragment, f"{node}.{field}={name!r}")
    assert snapshot(outside) == before_out
    assert NP.listing(comfy_server) == before_in
    assert comfy_server.get("/system_stats")["system"]


@pytest.mark.parametrize("node,field,exact", WRITERS, ids=[f"{n}.{f}" for n, f, _ in WRITERS])
def test_writers_stay_inside(comfy_server, world, node, field, exact):
    m, outside = world
    before_out, before_in = snapshot(outside), NP.listing(comfy_server)
    for name, fragment in writer_names(exact, outside):
        refused_by_name(comfy_server, NP.BUILDERS[node](m, **{field: name}), fragment, f"{node}.{field}={name!r}")
    assert snapshot(outside) == before_out
    assert NP.listing(comfy_server) == before_in, NP.listing(comfy_server) - before_in
    # The same prompt with a plain name works: the refusals were the names'.
    good = f"{C}/ok_{node}_{field}"
    got = NP.outcome(comfy_server, NP.BUILDERS[node](m, **{field: good}))
    assert got.kind == "success", got.text
    written = NP.listing(comfy_server) - before_in
    assert any(w.startswith(f"output/{C}/ok_{node}_{field}") for w in written), written
    assert snapshot(outside) == before_out


def test_annotated_names_and_inside_links_are_accepted(comfy_server, world):
    m, outside = world
    for video in (f"{C}/ann.mp4 [output]", f"{C}/ann.mp4 [temp]", f"{m['a']} [input]", f"{C}/inside.mp4"):
        got = NP.outcome(comfy_server, NP.load_video(m, video=video))
        assert got.kind == "success", (video, got.text)
        [stats] = [s for ui in got.reply["outputs"].values() for s in ui.get("segue_test_stats", [])]
        assert stats["images"]["shape"] == [20, NP.SIZE, NP.SIZE, 3]
    got = NP.outcome(comfy_server, NP.stitch_files(m, segment_files=f"{C}/ann.mp4 [output]\n{C}/ann.mp4 [temp]",
                                                   filename=f"{C}/stitched [temp]"))
    assert got.kind == "success", got.text
    assert probe(comfy_server.base / "temp" / C / "stitched.mp4").frame_count == 36
    got = NP.outcome(comfy_server, NP.save_segment(m, filename=f"{C}/seg [temp]"))
    assert got.kind == "success", got.text
    assert (comfy_server.base / "temp" / C / "seg.mkv").is_file()
    got = NP.outcome(comfy_server, NP.join_clips(m, clip_files=f"{C}/mixed/1.mp4\n{C}/inside.mp4",
                                                 filename_prefix=f"{C}/joined"))
    assert got.kind == "success", got.text


def test_a_link_at_a_counter_name_is_skipped_not_written_through(comfy_server, world):
    """A link named like the next counter file (output/conf/linked_00001_.mp4 -> outside) is
    never opened for writing: the counter moves past it."""
    m, outside = world
    link = comfy_server.output_dir / C / "linked_00001_.mp4"
    if not link.is_symlink():
        link.symlink_to(outside / "victim.mp4")
    got = NP.outcome(comfy_server, NP.save_video(m, filename_prefix=f"{C}/linked"))
    assert got.kind == "success", got.text
    assert not (outside / "victim.mp4").exists()
    assert (comfy_server.output_dir / C / "linked_00002_.mp4").is_file()


# --- the source itself --------------------------------------------------------------------------

PACK_DIRS = ("nodes", "video_utils", "orchestration")
NETWORK_MODULES = {"urllib", "http", "socket", "requests", "aiohttp", "ftplib", "websocket", "websockets",
                   "httpx", "urllib3"}
SHELL_MODULES = {"subprocess", "pty", "commands", "popen2"}


def pack_sources():
    files = [REPO / "__init__.py"]
    for folder in PACK_DIRS:
        files += sorted((REPO / folder).rglob("*.py"))
    return files


def forbidden(source: str, where: Path) -> list[str]:
    """What in ``source`` (a file of the pack at ``where``) starts a shell or process, or (in the
    nodes and video_utils) reaches the network."""
    problems = []
    nodes_side = where.parts[0] in ("nodes", "video_utils", "__init__.py")
    for node in ast.walk(ast.parse(source, str(where))):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            # a relative import names a module of the pack (``from .commands``), never the stdlib's
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [] if node.level else [node.module or ""]
            for mod in mods:
                top = mod.split(".")[0]
                if top in SHELL_MODULES:
                    problems.append(f"{where}:{node.lineno} imports {mod}")
                if top in NETWORK_MODULES and nodes_side:
                    problems.append(f"{where}:{node.lineno} imports {mod} (network)")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                problems += [f"{where}:{node.lineno} imports os.{a.name}" for a in node.names
                             if a.name in ("system", "popen") or a.name.startswith(("exec", "spawn"))]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" and \
                (node.attr in ("system", "popen") or node.attr.startswith(("exec", "spawn"))):
            problems.append(f"{where}:{node.lineno} uses os.{node.attr}")
        if isinstance(node, ast.keyword) and node.arg == "shell":
            problems.append(f"{where}:{getattr(node.value, 'lineno', '?')} passes shell=")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
            problems.append(f"{where}:{node.lineno} calls {node.func.id}()")
    return problems


def test_no_shell_subprocess_or_network_in_the_pack():
    """No shell or subprocess anywhere in the pack (tests/, tools/, bench/, scripts/ excepted), and
    no network library in the nodes or video_utils: no node can fetch a URL.  (The orchestrator's
    HTTP client talks to the ComfyUI servers it is given; it is not a node.)"""
    files = pack_sources()
    assert len(files) > 30     # the scan saw the pack
    problems = [p for path in files for p in forbidden(path.read_text(), path.relative_to(REPO))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", ["import subprocess", "from subprocess import run", "from os import system",
                                    "os.popen('ls')", "os.execv('/bin/sh', [])", "run(cmd, shell=True)",
                                    "eval(text)", "import urllib.request", "from http import client"])
def test_the_source_scan_flags_each_construct(source):
    assert forbidden(source, Path("nodes/x.py")), source
