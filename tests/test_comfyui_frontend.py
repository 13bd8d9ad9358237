"""The example workflows in ComfyUI's real frontend (headless Chromium through Playwright).

A user meets the pack through ``example_workflows/``: ComfyUI lists them in its template browser,
the frontend loads them with ``app.loadGraphData`` and converts them to an API prompt with
``app.graphToPrompt`` when the user presses Run.  These tests do exactly that, in the real page:
every example loads with no missing node type (and no "Some Nodes Are Missing" dialog, no schema
warning), the server lists and serves them with their thumbnails, and the model-free preview
workflow, converted by the frontend itself, runs and saves a video of the planned length.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import av
import pytest

from comfy_frontend import (MISSING_NODES_TITLE, SCHEMA_ALERT, browser, close_dialogs, frontend_unavailable,
                            graph_to_prompt, load_workflow, open_app, visible_text, wait_visible_text)
from comfyui_harness import comfyui_version
from integration import unavailable
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.probe import probe
from segue.video_utils.core.retime import conformed_frame_count
from segue.video_utils.core.travel_plan import plan_travel

pytestmark = [pytest.mark.comfyui, pytest.mark.frontend]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "example_workflows"
PACK = "segue"  # the folder name the harness links the pack under in custom_nodes/
EXPECTED = ["segue_join_clips", "segue_join_clips_preview_cpu", "segue_travel_preview_cpu", "segue_travel_wan21_vace",
            "segue_travel_wan22_vace_fun"]
PREVIEWS = [n for n in EXPECTED if n.endswith("_preview_cpu")]
FRONTEND_ONLY_TYPES = {"Note", "MarkdownNote"}  # virtual nodes: drawn by the frontend, never executed


@pytest.fixture(scope="module")
def page(comfy_server):
    reason = frontend_unavailable()
    if reason:
        unavailable(reason)
    with browser() as b:
        yield open_app(b, comfy_server)


@pytest.fixture(autouse=True)
def _no_dialog_left(request):
    yield
    if "page" in request.fixturenames:
        close_dialogs(request.getfixturevalue("page"))


@functools.cache
def builder():
    """tools/build_example_workflows.py (not a package), for its workflow specs."""
    spec = importlib.util.spec_from_file_location("build_example_workflows",
                                                  REPO / "tools" / "build_example_workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def fetch_template(page, name: str) -> dict:
    """The workflow as the template browser gets it: from the server, not from disk."""
    return page.evaluate(
        "async (url) => { const r = await fetch(url); if (!r.ok) throw new Error(url + ' ' + r.status); "
        "return await r.json(); }",
        f"/api/workflow_templates/{PACK}/{name}.json",
    )


def test_the_examples_ship_with_thumbnails():
    names = sorted(p.stem for p in EXAMPLES.glob("*.json"))
    assert names == EXPECTED
    for name in names:
        jpg = (EXAMPLES / f"{name}.jpg").read_bytes()
        assert jpg[:3] == b"\xff\xd8\xff" and 5_000 < len(jpg) < 150_000, name


def test_server_lists_and_serves_the_examples_and_thumbnails(comfy_server):
    listed = comfy_server.get("/workflow_templates")
    assert sorted(listed.get(PACK, [])) == EXPECTED
    for name in EXPECTED:
        with urllib.request.urlopen(f"{comfy_server.url}/api/workflow_templates/{PACK}/{name}.jpg") as r:
            assert r.headers.get_content_type() == "image/jpeg"
            assert r.read() == (EXAMPLES / f"{name}.jpg").read_bytes()


def test_thumbnails_decode_in_the_page(page):
    """Each thumbnail as the template browser asks for it (``/api/workflow_templates/<pack>/<name>.jpg``
    in both frontends) decodes in the browser to a picture of a sensible size."""
    for name in EXPECTED:
        width, height = page.evaluate(
            "async (url) => { const r = await fetch(url); if (!r.ok) throw new Error(url + ' ' + r.status); "
            "const b = await createImageBitmap(await r.blob()); return [b.width, b.height]; }",
            f"/api/workflow_templates/{PACK}/{name}.jpg")
        assert 200 <= width <= 2000 and 100 <= height <= 2000, (name, width, height)


def test_missing_node_detection_works(page):
    """The check below can fail: a workflow with an unknown node type is caught both ways."""
    bogus = example("segue_travel_preview_cpu")
    bogus["nodes"][1]["type"] = "SegueNoSuchNode"
    # The 0.27 frontend keeps one error panel: clear what an earlier workflow (missing models) left.
    assert load_workflow(page, example("segue_travel_preview_cpu")) == []
    page.wait_for_timeout(500)
    close_dialogs(page)
    assert load_workflow(page, bogus) == ["SegueNoSuchNode"]
    wait_visible_text(page, MISSING_NODES_TITLE)


@pytest.mark.parametrize("name", EXPECTED)
def test_example_loads_in_the_frontend_with_every_node_known(page, comfy_server, name):
    workflow = fetch_template(page, name)
    assert workflow == example(name)
    assert load_workflow(page, workflow) == []
    page.wait_for_timeout(500)  # the dialogs open asynchronously after loadGraphData
    assert not visible_text(page, MISSING_NODES_TITLE)
    assert not visible_text(page, SCHEMA_ALERT)
    assert page.evaluate("() => app.graph.nodes.length") == len(workflow["nodes"])

    # Only Segue and core nodes (plus the frontend's Note), and a Note that names the files.
    types = {n["type"] for n in workflow["nodes"]}
    for t in types - FRONTEND_ONLY_TYPES:
        module = comfy_server.get(f"/object_info/{t}")[t]["python_module"]
        assert module == f"custom_nodes.{PACK}" or not module.startswith("custom_nodes"), (t, module)
    # Widget values are stored by position: after a node gains an input they would shift silently.
    # Read them back by name and compare with what tools/build_example_workflows.py asked for.
    loaded = page.evaluate("() => app.graph.nodes.slice().sort((a, b) => a.id - b.id).map((n) => [n.type, "
                           "Object.fromEntries((n.widgets ?? []).map((w) => [w.name, w.value]))])")
    # A node that gained a widget shifts every later saved value: the counts must match.
    counts = page.evaluate("() => app.graph.nodes.slice().sort((a, b) => a.id - b.id).map((n) => "
                           "(n.widgets ?? []).filter((w) => w.serialize !== false).length)")
    saved = [len(n.get("widgets_values") or []) for n in sorted(workflow["nodes"], key=lambda n: n["id"])]
    assert counts == saved, "widgets changed: python tools/build_example_workflows.py"
    spec = builder().WORKFLOWS[name]().nodes
    assert [t for t, _ in loaded] == [n["type"] for n in spec], "rebuild: python tools/build_example_workflows.py"
    for (node_type, values), n in zip(loaded, spec):
        for widget, value in n["widgets"].items():
            assert values.get(widget) == pytest.approx(value) if isinstance(value, float) else \
                values.get(widget) == value, f"{node_type}.{widget}: rebuild the example workflows"

    notes = [n["widgets_values"][0] for n in workflow["nodes"] if n["type"] == "Note"]
    assert notes, f"{name} has no Note"
    if name not in PREVIEWS:
        assert "diffusion_models/" in notes[0] and "vae/" in notes[0] and "text_encoders/" in notes[0]
    assert "input/" in notes[0]


# Inputs that name files a user downloads or uploads; the test server has none of the models.
FILE_INPUTS = {"UNETLoader.unet_name", "CLIPLoader.clip_name", "VAELoader.vae_name", "LoadImage.image",
               "LoadVideo.file"}


def post_prompt(server, prompt: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"{server.url}/prompt", data=json.dumps({"prompt": prompt}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("name", [n for n in EXPECTED if n not in PREVIEWS])
def test_model_workflows_convert_to_prompts_valid_but_for_the_missing_model_files(page, comfy_server, name):
    """graphToPrompt of a Wan workflow passes the server's validation except for the files it names."""
    assert load_workflow(page, example(name)) == []
    prompt = graph_to_prompt(page)
    assert {v["class_type"] for v in prompt.values()} >= {"UNETLoader", "CLIPLoader", "VAELoader", "SegueRecipe"}
    status, reply = post_prompt(comfy_server, prompt)
    assert status == 400, reply  # nothing can run: the model files are not on the test server
    errors = [(node["class_type"], e["type"], e.get("extra_info", {}).get("input_name"))
              for node in reply["node_errors"].values() for e in node["errors"]]
    assert errors
    file_errors = ("value_not_in_list", "custom_validation_failed")  # combo list / Load Image|Video check
    unexpected = [e for e in errors if e[1] not in file_errors or f"{e[0]}.{e[2]}" not in FILE_INPUTS]
    assert not unexpected, reply["node_errors"]


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.mark.parametrize("name", PREVIEWS)
def test_preview_workflow_runs_out_of_the_box(page, comfy_server, name):
    """A fresh ComfyUI, nothing copied by hand: the pack installed its samples in input/ when it
    loaded, and the workflow, converted by the frontend itself, runs to a video of the planned length."""
    samples = comfy_server.input_dir / "segue_samples"
    assert sorted(p.name for p in samples.iterdir()) == ["clip_1.mp4", "clip_2.mp4", "clip_3.mp4", "keyframe_0.png",
                                                         "keyframe_1.png", "keyframe_2.png", "keyframe_3.png"]
    assert load_workflow(page, example(name)) == []
    prompt = graph_to_prompt(page)
    if name.startswith("segue_travel"):
        travel = next(v for v in prompt.values() if v["class_type"] == "SegueTravel")["inputs"]
        images = next(v for v in prompt.values() if v["class_type"] == "SegueLoadImages")["inputs"]["images"]
        expected = plan_travel(len(images.splitlines()), int(travel["segment_frames"]), int(travel["overlap"]),
                               travel["mode"], bool(travel["exact_keyframes"])).total_frames
    else:
        join = next(v for v in prompt.values() if v["class_type"] == "SegueJoinClips")["inputs"]
        clips = [comfy_server.input_dir / v["inputs"]["video"] for v in prompt.values()
                 if v["class_type"] == "SegueLoadVideo"]
        # the clips (24, 30 and 16 fps) are conformed to the first clip's rate, keeping their durations
        rate = probe(clips[0]).fps
        counts = [conformed_frame_count(c, rate) for c in clips]
        expected = plan_join(counts, join["context"], join["gap"], join["replace"], generation_fps=16,
                             output_fps=rate).total_frames
    entry = comfy_server.run(prompt, timeout=300)
    [video] = [p for p in comfy_server.output_files(entry) if p.suffix == ".mp4"]
    assert video.is_relative_to(comfy_server.output_dir) and count_frames(video) == expected


def expert_inputs(comfy_server, node: str) -> set[str]:
    info = comfy_server.get(f"/object_info/{node}")[node]["input"]
    return {name for part in ("required", "optional") for name, spec in (info.get(part) or {}).items()
            if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("advanced")}


def node_lines(page, node_id) -> set[str]:
    return {line.strip() for line in page.locator(f'[data-node-id="{node_id}"]').inner_text().splitlines()}


def test_segue_travel_shows_its_essentials_first(page, comfy_server):
    """On a ComfyUI whose schema has ``advanced`` (0.27), Segue Travel's expert inputs (strength,
    desaturate, darken, curve, sharpen, crf, preset ...) are folded behind "Show advanced inputs" in
    the real frontend's node (its Nodes 2.0 renderer; the classic canvas of frontend 1.45 draws every
    widget, core's advanced ones too) and still reach the prompt. On 0.3.64 every input shows, as before."""
    expert = expert_inputs(comfy_server, "SegueTravel")
    widgets = page.evaluate("() => LiteGraph.createNode('SegueTravel').widgets.map((w) => w.name)")
    if comfyui_version() >= (0, 27, 0):
        assert {"strength", "desaturate", "darken", "sharpen", "preset", "crf", "curve"} <= expert
        assert {"segment_frames", "overlap", "prompts", "negative_prompt", "filename_prefix"}.isdisjoint(expert)
        essentials = [w for w in widgets if w not in expert]
        assert len(essentials) <= 12 < len(widgets)
        comfy_server.post("/settings", {"Comfy.VueNodes.Enabled": True})
        vue = page.context.browser.new_page(viewport={"width": 1024, "height": 900})
        try:
            vue.goto(comfy_server.url + "/")
            vue.wait_for_function("() => window.app && app.graph && window.LiteGraph"
                                  " && Object.keys(LiteGraph.registered_node_types).length > 100", timeout=90_000)
            node_id = vue.evaluate("() => { app.graph.clear(); const n = LiteGraph.createNode('SegueTravel'); "
                                   "n.pos = [200, 100]; app.graph.add(n); return n.id; }")
            vue.locator(f'[data-node-id="{node_id}"]').wait_for(state="visible", timeout=10_000)
            shown = node_lines(vue, node_id)
            assert set(essentials) <= shown and not expert & shown, shown
            vue.locator(f'[data-node-id="{node_id}"]').get_by_test_id("advanced-inputs-button").click()
            vue.wait_for_timeout(500)
            assert set(widgets) <= node_lines(vue, node_id)
        finally:
            vue.close()
            comfy_server.post("/settings", {"Comfy.VueNodes.Enabled": False})
    else:
        assert not expert
    # folded or not, the expert values are part of the prompt the frontend sends
    assert load_workflow(page, example("segue_travel_preview_cpu")) == []
    travel = next(v for v in graph_to_prompt(page).values() if v["class_type"] == "SegueTravel")["inputs"]
    assert {"strength", "desaturate", "darken", "sharpen", "preset", "crf"} <= set(travel)
