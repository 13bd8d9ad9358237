#!/usr/bin/env python3
"""(Re)generate ``example_workflows/*.json`` and their ``.jpg`` thumbnails with the real frontend.

Developer tool, not used at run time.  It starts a ComfyUI server with this pack (the integration
test harness, ``SEGUE_COMFYUI_DIR``), opens the page in headless Chromium through Playwright, and
for each workflow builds the graph with LiteGraph *in the page* (``LiteGraph.createNode``,
``node.connect``, widget values by name, a Note), then saves what the frontend itself saves:
``JSON.stringify(app.graph.serialize())`` (stringified in the page: Playwright would hand
``undefined`` fields back as nulls, which the frontend's schema check rejects on load).  A node
type, widget, combo value or slot that does not exist fails the build, so the files always match
the installed nodes.  The thumbnail is a
screenshot of the fitted canvas, 512 px wide.

    .venv/bin/python tools/build_example_workflows.py [--only NAME ...] [--out DIR]

Needs Debian's chromium (/usr/bin/chromium) and ``pip install playwright`` (no browser download).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from comfy_frontend import browser, close_dialogs, open_app, thumbnail_png  # noqa: E402
from comfyui_harness import ComfyServer  # noqa: E402

OUT_DIR = REPO / "example_workflows"
THUMB_WIDTH = 512

R21 = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
R22 = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
WAN21_VACE = ("wan2.1_vace_1.3B_fp16.safetensors", f"{R21}/diffusion_models/wan2.1_vace_1.3B_fp16.safetensors",
              "diffusion_models")
WAN22_HIGH = ("wan2.2_fun_vace_high_noise_14B_fp8_scaled.safetensors",
              f"{R22}/diffusion_models/wan2.2_fun_vace_high_noise_14B_fp8_scaled.safetensors", "diffusion_models")
WAN22_LOW = ("wan2.2_fun_vace_low_noise_14B_fp8_scaled.safetensors",
             f"{R22}/diffusion_models/wan2.2_fun_vace_low_noise_14B_fp8_scaled.safetensors", "diffusion_models")
UMT5 = ("umt5_xxl_fp8_e4m3fn_scaled.safetensors", f"{R21}/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
        "text_encoders")
WAN_VAE = ("wan_2.1_vae.safetensors", f"{R21}/vae/wan_2.1_vae.safetensors", "vae")

NEGATIVE = "static, blurry, low quality, jpeg artifacts, deformed, watermark, subtitles"
PROMPTS = ("the camera glides forward as the light slowly changes\n"
           "the scene morphs smoothly while the camera keeps moving")


@dataclass
class Graph:
    """A workflow to build in the page: nodes in layout columns, links by slot name."""

    nodes: list[dict] = field(default_factory=list)
    links: list[list] = field(default_factory=list)

    def add(self, key: str, node_type: str, col: int, *, title: str | None = None,
            size: tuple[int | None, int | None] = (None, None), models: list[tuple] | None = None,
            **widgets) -> str:
        """A node; ``size`` is a minimum (None = the frontend's own), ``widgets`` set values by name."""
        self.nodes.append({"key": key, "type": node_type, "col": col, "title": title, "size": list(size),
                           "widgets": widgets,
                           "models": [{"name": n, "url": u, "directory": d} for n, u, d in models or []]})
        return key

    def link(self, src: str, out: str | int, dst: str, inp: str) -> None:
        self.links.append([src, out, dst, inp])

    def note(self, key: str, col: int, text: str, width: int = 440, height: int = 360) -> str:
        return self.add(key, "Note", col, size=(width, height), text=text)


# --- the workflows ---------------------------------------------------------------------------------

SAMPLES = "segue_samples"   # video_utils/engine/samples.py puts these in ComfyUI's input/ when the pack loads
SAMPLE_KEYFRAMES = "\n".join(f"{SAMPLES}/keyframe_{i}.png" for i in range(3))
SAMPLE_CLIPS = [f"{SAMPLES}/clip_{i}.mp4" for i in (1, 2, 3)]

KEYFRAME_NOTE = (
    "KEYFRAMES: Segue Load Images reads one file per line from ComfyUI/input/ (the samples in "
    "input/segue_samples/ are installed by the pack). Put your own pictures in input/ and list them, "
    "or give a folder name ending in / to take every image in it in name order. Each pair of "
    "neighbours is one segment; any size is centre-cropped to the generation size."
)


def add_keyframes(g: Graph, width: int, height: int) -> str:
    g.add("keys", "SegueLoadImages", 1, title="Keyframes", size=(360, None), images=SAMPLE_KEYFRAMES,
          width=width, height=height, fit="crop")
    return "keys"


def add_wan_loaders(g: Graph, unets: list[tuple[str, tuple]]) -> None:
    for key, model in unets:
        g.add(key, "UNETLoader", 0, title=f"Load {key.replace('_', ' ')}", size=(380, None), models=[model],
              unet_name=model[0], weight_dtype="default")
    g.add("clip", "CLIPLoader", 0, size=(380, None), models=[UMT5], clip_name=UMT5[0], type="wan", device="default")
    g.add("vae", "VAELoader", 0, size=(380, None), models=[WAN_VAE], vae_name=WAN_VAE[0])


def add_recipe(g: Graph, col: int, low: bool = False, **widgets) -> str:
    g.add("recipe", "SegueRecipe", col, size=(400, None), **widgets)
    g.link("high_noise_model" if low else "wan_model", 0, "recipe", "model")
    if low:
        g.link("low_noise_model", 0, "recipe", "model_low_noise")
    g.link("clip", 0, "recipe", "clip")
    g.link("vae", 0, "recipe", "vae")
    return "recipe"


def wan21_travel() -> Graph:
    g = Graph()
    g.note("note", 0, "\n".join([
        "SEGUE TRAVEL - Wan 2.1 VACE",
        "",
        "MODEL FILES (ComfyUI/models/...):",
        f"- diffusion_models/{WAN21_VACE[0]}  (or wan2.1_vace_14B_fp16.safetensors for 720p)",
        f"- text_encoders/{UMT5[0]}",
        f"- vae/{WAN_VAE[0]}",
        "All three are in the Comfy-Org/Wan_2.1_ComfyUI_repackaged repository on Hugging Face "
        "(split_files/...).",
        "",
        KEYFRAME_NOTE,
        "",
        "Segue Recipe says how each segment is generated (sampler, LoRAs, reference image, colour). Segue "
        "Travel makes one segment per keyframe pair (one prompt line each) and cross-fades them into "
        "output/segue/travel_NNNNN_.mp4. segment_frames = frames between keyframes, overlap = frames shared "
        "by neighbours.",
    ]))
    add_wan_loaders(g, [("wan_model", WAN21_VACE)])
    keys = add_keyframes(g, 832, 480)
    add_recipe(g, 1, generator="wan-vace", steps=20, cfg=5.0, sampler_name="uni_pc", scheduler="simple", shift=8.0)
    g.add("travel", "SegueTravel", 2, size=(420, None), prompts=PROMPTS, negative_prompt=NEGATIVE,
          segment_frames="80", overlap="8", mode="chained", filename_prefix="segue/travel")
    g.link(keys, 0, "travel", "keyframes")
    g.link("recipe", 0, "travel", "recipe")
    return g


LIGHTNING_PHASES = ('[{"model": "high", "end_step": 2, "cfg": 3.5},\n'
                    ' {"model": "low", "cfg": 1}]')


def wan22_travel() -> Graph:
    g = Graph()
    g.note("note", 0, "\n".join([
        "SEGUE TRAVEL - Wan 2.2 VACE-Fun A14B (two experts)",
        "",
        "MODEL FILES (ComfyUI/models/...):",
        f"- diffusion_models/{WAN22_HIGH[0]}",
        f"- diffusion_models/{WAN22_LOW[0]}",
        "  (Comfy-Org/Wan_2.2_ComfyUI_Repackaged on Hugging Face, split_files/diffusion_models/)",
        f"- text_encoders/{UMT5[0]}",
        f"- vae/{WAN_VAE[0]}  (the Wan 2.1 VAE; not wan2.2_vae)",
        "  (Comfy-Org/Wan_2.1_ComfyUI_repackaged, split_files/...)",
        "",
        KEYFRAME_NOTE,
        "",
        "model = high-noise expert, model_low_noise = low-noise expert. The recipe's phases run the high "
        "expert at CFG 3.5 for the first 2 steps and the low one at CFG 1 for the rest (add a Lightning "
        "LoRA to a phase with \"loras\": [{\"name\": ..., \"strength\": 1}]). Empty phases = one CFG, "
        "the high expert for the first half of the steps and the low one for the rest.",
    ]))
    add_wan_loaders(g, [("high_noise_model", WAN22_HIGH), ("low_noise_model", WAN22_LOW)])
    keys = add_keyframes(g, 832, 480)
    add_recipe(g, 1, low=True, generator="wan-vace", steps=6, cfg=1.0, sampler_name="euler", scheduler="simple",
               shift=5.0, phases=LIGHTNING_PHASES)
    g.add("travel", "SegueTravel", 2, size=(420, None), prompts=PROMPTS, negative_prompt=NEGATIVE,
          segment_frames="80", overlap="8", mode="chained", filename_prefix="segue/travel_wan22")
    g.link(keys, 0, "travel", "keyframes")
    g.link("recipe", 0, "travel", "recipe")
    return g


def add_clips(g: Graph, join: str) -> None:
    for i, name in enumerate(SAMPLE_CLIPS, 1):
        g.add(f"clip{i}", "SegueLoadVideo", 1, title=f"Clip {i}", size=(360, None), video=name, last_frames=1)
        g.link(f"clip{i}", "video", join, f"clip_{i}")


CLIP_NOTE = ("CLIPS: Segue Load Video reads a file from ComfyUI/input/ (the samples in input/segue_samples/ are "
             "installed by the pack; they differ in size, frame rate and sound, like real footage). More clips: "
             "connect clip_4 ... clip_8.")


def join_clips() -> Graph:
    g = Graph()
    g.note("note", 0, "\n".join([
        "SEGUE JOIN CLIPS - Wan 2.1 VACE transitions",
        "",
        "MODEL FILES (ComfyUI/models/...):",
        f"- diffusion_models/{WAN21_VACE[0]}  (or the 14B)",
        f"- text_encoders/{UMT5[0]}",
        f"- vae/{WAN_VAE[0]}",
        "(Comfy-Org/Wan_2.1_ComfyUI_repackaged on Hugging Face, split_files/...)",
        "",
        CLIP_NOTE,
        "",
        "Each join generates a transition from the last `context` frames of one clip and the first of the "
        "next (`gap` new frames between), one prompt line per join. No model? Open segue_join_clips_preview_cpu.",
    ]))
    add_wan_loaders(g, [("wan_model", WAN21_VACE)])
    add_recipe(g, 1, generator="wan-vace", steps=20, cfg=5.0, sampler_name="uni_pc", scheduler="simple", shift=8.0)
    g.add("join", "SegueJoinClips", 2, size=(420, None), context=8, gap=53, replace=False,
          prompt="a smooth transition between the two shots", negative_prompt=NEGATIVE, filename_prefix="segue/join")
    add_clips(g, "join")
    g.link("recipe", 0, "join", "recipe")
    return g


PREVIEW_SEGMENT_FRAMES, PREVIEW_OVERLAP = "24", "6"


def preview_travel() -> Graph:
    g = Graph()
    g.note("note", 0, "\n".join([
        "SEGUE TRAVEL - CPU preview (no model at all)",
        "",
        "No model files needed: with no recipe connected, Segue Travel morphs between the keyframes on the "
        "CPU (optical flow), so you can check keyframe timing, segment lengths and overlaps before spending "
        "GPU time. Then open segue_travel_wan21_vace and use the same settings.",
        "",
        KEYFRAME_NOTE,
    ]), height=300)
    keys = add_keyframes(g, 512, 288)
    g.add("travel", "SegueTravel", 2, size=(420, None), prompts="", segment_frames=PREVIEW_SEGMENT_FRAMES,
          overlap=PREVIEW_OVERLAP, mode="chained", filename_prefix="segue/travel_preview", preset="veryfast")
    g.link(keys, 0, "travel", "keyframes")
    return g


def preview_join() -> Graph:
    g = Graph()
    g.note("note", 0, "\n".join([
        "SEGUE JOIN CLIPS - CPU preview (no model at all)",
        "",
        "No model files needed: with no recipe connected, each transition is a CPU morph between the two "
        "clips' context frames. Check the cuts, lengths and sound here, then open segue_join_clips.",
        "",
        CLIP_NOTE,
    ]), height=300)
    g.add("join", "SegueJoinClips", 2, size=(420, None), context=8, gap=17, replace=False,
          filename_prefix="segue/join_preview", preset="veryfast")
    add_clips(g, "join")
    return g


WORKFLOWS = {
    "segue_travel_wan21_vace": wan21_travel,
    "segue_travel_wan22_vace_fun": wan22_travel,
    "segue_join_clips": join_clips,
    "segue_travel_preview_cpu": preview_travel,
    "segue_join_clips_preview_cpu": preview_join,
}

# --- building in the page --------------------------------------------------------------------------

BUILD_JS = r"""
async (spec) => {
  app.clean();  // also drops the previous graph's previews, which are keyed by node id
  const byKey = {};
  for (const n of spec.nodes) {
    const node = LiteGraph.createNode(n.type);
    if (!node) throw new Error(`unknown node type ${n.type}`);
    app.graph.add(node);
    if (n.title) node.title = n.title;
    for (const [name, value] of Object.entries(n.widgets)) {
      const w = node.widgets?.find((w) => w.name === name);
      if (!w) throw new Error(`${n.type} has no widget ${name} (it has ${node.widgets?.map((w) => w.name)})`);
      if (Array.isArray(w.options?.values) && w.options.values.length && !w.options.values.includes(value)
          && !spec.freeCombos.includes(`${n.type}.${name}`))
        throw new Error(`${n.type}.${name}=${value} is not one of ${w.options.values}`);
      w.value = value;
      w.callback?.(value);  // what a user's edit triggers (e.g. Load Image fetches its preview)
    }
    if (n.models.length) node.properties.models = n.models;
    byKey[n.key] = node;
  }
  for (const [src, out, dst, inp] of spec.links) {
    const a = byKey[src], b = byKey[dst];
    const o = typeof out === "number" ? out : a.findOutputSlot(out);
    const i = b.findInputSlot(inp);
    if (o < 0) throw new Error(`${a.type} has no output ${out}`);
    if (i < 0) throw new Error(`${b.type} has no input ${inp} (it has ${b.inputs.map((s) => s.name)})`);
    if (!a.connect(o, b, i)) throw new Error(`cannot link ${a.type}.${out} -> ${b.type}.${inp}`);
  }
  window.__segueBuilt = spec.nodes.map((n) => [byKey[n.key].id, n.col, n.size]);
}
"""

# Sizes and columns once previews have loaded: left to right, nodes stacked in spec order.
LAYOUT_JS = r"""
async () => {
  const GAP = 40, cols = {};
  for (const [id, col, min] of window.__segueBuilt) {
    const node = app.graph.getNodeById(id), size = node.computeSize();
    node.size = [Math.max(min[0] ?? 0, size[0]), Math.max(min[1] ?? 0, size[1])];
    (cols[col] ??= []).push(node);
  }
  let x = 0;
  for (const c of Object.keys(cols).map(Number).sort((p, q) => p - q)) {
    let y = 0, w = 0;
    for (const node of cols[c]) {
      node.pos = [x, y];
      y += node.size[1] + LiteGraph.NODE_TITLE_HEIGHT + GAP;
      w = Math.max(w, node.size[0]);
    }
    x += Math.round(w) + GAP * 2;
  }
  app.graph.setDirtyCanvas(true, true);
  // JSON text, as the frontend saves it: Playwright would turn `undefined` fields into nulls.
  return JSON.stringify(app.graph.serialize());
}
"""

FOCUS_MODE_JS = """async () => { await app.extensionManager.command.execute("Workspace.ToggleFocusMode"); }"""



# Model/file combos legitimately name files this build server does not have.
FREE_COMBOS = ["UNETLoader.unet_name", "CLIPLoader.clip_name", "VAELoader.vae_name"]


def build_in_page(page, name: str, graph: Graph) -> dict:
    spec = {"nodes": graph.nodes, "links": graph.links, "freeCombos": FREE_COMBOS}
    page.evaluate(BUILD_JS, spec)
    workflow = json.loads(page.evaluate(LAYOUT_JS))
    workflow["extra"].pop("ds", None)  # the build's own zoom/pan is nobody's business
    workflow["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"segue/example_workflows/{name}"))  # stable, distinct
    return workflow


def jpeg_thumbnail(png: bytes, width: int = THUMB_WIDTH) -> bytes:
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    small = cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 82])
    assert ok
    return data.tobytes()


def build(out_dir: Path, only: list[str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="segue_build_") as base:
        server = ComfyServer(Path(base)).start()
        try:
            with browser() as b:
                page = open_app(b, server, width=1600, height=1000)
                page.evaluate(FOCUS_MODE_JS)
                for name, make in WORKFLOWS.items():
                    if only and name not in only:
                        continue
                    workflow = build_in_page(page, name, make())
                    close_dialogs(page)
                    png = thumbnail_png(page)
                    path = out_dir / f"{name}.json"
                    path.write_text(json.dumps(workflow, indent=2) + "\n")
                    path.with_suffix(".jpg").write_bytes(jpeg_thumbnail(png))
                    written += [path, path.with_suffix(".jpg")]
                    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
                          f"({len(workflow['nodes'])} nodes, {len(workflow['links'])} links)")
        finally:
            server.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=list(WORKFLOWS), help="build only these workflows")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: example_workflows/)")
    args = ap.parse_args(argv)
    build(args.out, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
