"""The real Wan 2.1 VACE pipeline in a real ComfyUI, with tiny random weights, on a CPU.

What is real: ComfyUI's UNETLoader model detection (the tiny DiT must load as WAN21_Vace), its
Wan 2.1 VAE (full size, random), WanVaceToVideo, KSampler, TrimVideoLatent, VAEDecode and the
Segue nodes around them.  What is fake: the weights (random) and the text encoder (a test node
returns random CONDITIONING).  So the pictures are noise, but every frame count, guide shape and
mask the chain passes along is the one a GPU user gets; the test checks those survive:
each saved segment has ``generate_frames - trim_start`` frames and the stitched video
``plan.total_frames``.

The VAE dominates the run time (three passes per segment), so segments are short (13/17 frames)
at 64x64.
"""

from __future__ import annotations

import json
import re
import shutil
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pytest
import torch

from segue.video_utils.core.travel_plan import plan_travel
from segue.video_utils.engine.video_read import read_frames
from wan_tiny_weights import (install_tiny_wan, parameter_count, wan21_vace_dit_shapes,
                              wan21_vae_shapes)

SIZE = 64
SEGMENT_FRAMES, OVERLAP, MODE = 12, 4, "chained"
STEPS, SHIFT = 2, 8.0
KEY_DIR = "segue_wan_test"
KEY_NAMES = [f"{KEY_DIR}/key_{i}.png" for i in range(3)]


def test_tiny_wan_shapes_are_the_advertised_sizes():
    """The DiT is tiny and the VAE complete, so the files stay small/fast and load fully."""
    assert 1_300_000 < parameter_count(wan21_vace_dit_shapes()) < 1_500_000
    vae = wan21_vae_shapes()
    assert 126_000_000 < parameter_count(vae) < 128_000_000
    assert len(vae) == 194  # every tensor of ComfyUI's WanVAE(dim=96, z_dim=16) state dict


# --- fixtures -------------------------------------------------------------------------------------

def write_keyframes(folder) -> None:
    """Three distinct 64x64 pictures (gradients in different colours) as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, SIZE, dtype=np.float32)
    for i, name in enumerate(KEY_NAMES):
        img = np.zeros((SIZE, SIZE, 3), np.float32)
        img[..., i] = ramp[None, :]
        img[..., (i + 1) % 3] = ramp[:, None]
        cv2.imwrite(str(folder / name.split("/")[-1]), img.astype(np.uint8))


@pytest.fixture(scope="module")
def wan(comfy_server):
    unet, vae = install_tiny_wan(comfy_server.base / "models")
    write_keyframes(comfy_server.input_dir / KEY_DIR)
    yield SimpleNamespace(server=comfy_server, unet=unet, vae=vae)
    shutil.rmtree(comfy_server.output_dir / "segue_wan_test", ignore_errors=True)


def require_nodes(server, *node_ids: str) -> None:
    """Fail (naming the node and the server's import errors) when the pack did not register a
    node the test needs: a pack that fails to load in ComfyUI is a broken pack, not a skip."""
    missing = [n for n in node_ids if not server.get(f"/object_info/{n}")]
    if missing:
        pytest.fail(f"Segue node(s) {', '.join(missing)} not registered by the pack:\n{server.log_tail(40)}")


class Prompt(dict):
    """A tiny API-format prompt builder: ``p.add(id, class_type, **inputs)``; links are ``(id, index)``."""

    def add(self, node_id: str, class_type: str, **inputs) -> str:
        self[node_id] = {"class_type": class_type,
                         "inputs": {k: [v[0], v[1]] if isinstance(v, tuple) else v for k, v in inputs.items()}}
        return node_id


def add_model_nodes(p: Prompt, w) -> None:
    """UNETLoader -> ModelSamplingSD3(shift 8), VAELoader, random positive/negative conditioning."""
    p.add("unet", "UNETLoader", unet_name=w.unet, weight_dtype="default")
    p.add("model", "ModelSamplingSD3", model=("unet", 0), shift=SHIFT)
    p.add("vae", "VAELoader", vae_name=w.vae)
    p.add("pos", "SegueTestRandomConditioning", seed=1, tokens=8)
    p.add("neg", "SegueTestRandomConditioning", seed=2, tokens=8)


def add_wan_generator(p: Prompt, tag: str, guide: str, seed: int) -> str:
    """The contract's Wan 2.1 VACE chain on a guide node's outputs; returns the VAEDecode id."""
    vace = p.add(f"vace{tag}", "WanVaceToVideo", positive=("pos", 0), negative=("neg", 0), vae=("vae", 0),
                 width=(guide, 3), height=(guide, 4), length=(guide, 2), batch_size=1, strength=1.0,
                 control_video=(guide, 0), control_masks=(guide, 1))
    ks = p.add(f"ks{tag}", "KSampler", model=("model", 0), seed=seed, steps=STEPS, cfg=1.0,
               sampler_name="euler", scheduler="simple", positive=(vace, 0), negative=(vace, 1),
               latent_image=(vace, 2), denoise=1.0)
    trim = p.add(f"trim{tag}", "TrimVideoLatent", samples=(ks, 0), trim_amount=(vace, 3))
    return p.add(f"dec{tag}", "VAEDecode", samples=(trim, 0), vae=("vae", 0))


def finished_samplings(server) -> int:
    """KSampler runs so far: the server log's completed progress bars of STEPS steps."""
    return len(re.findall(rf"100%\|[^|\r\n]*\| {STEPS}/{STEPS} \[", server.log_path.read_text(errors="replace")))


def count_frames(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def stats(entry: dict, label: str) -> dict:
    for ui in entry["outputs"].values():
        for item in ui.get("segue_test_stats", []):
            if item["label"] == label:
                return item
    raise AssertionError(f"no stats {label!r} in {entry['outputs']}")


def segue_files(entry: dict, node_id: str) -> list[dict]:
    return entry["outputs"][node_id]["segue_files"]


def local_path(server, item: dict):
    """Where a history file entry (``{filename, subfolder, type}``) lies on this machine."""
    [path] = server.output_files({"outputs": {"node": {"files": [item]}}})
    return path


# --- tests ----------------------------------------------------------------------------------------

@pytest.mark.comfyui
def test_tiny_weights_run_through_the_core_wan_vace_chain(wan):
    """Core nodes only: the tiny DiT loads as WAN21_Vace and the random VAE decodes finite frames."""
    p = Prompt()
    add_model_nodes(p, wan)
    # A hand-made guide: first frame a keyframe (mask 0 = keep), the rest grey (mask 1 = generate).
    p.add("key", "LoadImage", image=KEY_NAMES[0])
    p.add("grey", "EmptyImage", width=SIZE, height=SIZE, batch_size=4, color=0x808080)
    p.add("guide", "ImageBatch", image1=("key", 0), image2=("grey", 0))
    p.add("mask", "SolidMask", value=1.0, width=SIZE, height=SIZE)  # shorter masks pad with 1
    p.add("vace", "WanVaceToVideo", positive=("pos", 0), negative=("neg", 0), vae=("vae", 0), width=SIZE,
          height=SIZE, length=5, batch_size=1, strength=1.0, control_video=("guide", 0), control_masks=("mask", 0))
    p.add("ks", "KSampler", model=("model", 0), seed=3, steps=STEPS, cfg=1.0, sampler_name="euler",
          scheduler="simple", positive=("vace", 0), negative=("vace", 1), latent_image=("vace", 2), denoise=1.0)
    p.add("trim", "TrimVideoLatent", samples=("ks", 0), trim_amount=("vace", 3))
    p.add("dec", "VAEDecode", samples=("trim", 0), vae=("vae", 0))
    p.add("stats", "SegueTestTensorStats", label="decoded", images=("dec", 0))
    entry = wan.server.run(p, timeout=300)

    decoded = stats(entry, "decoded")["images"]
    assert decoded["shape"] == [5, SIZE, SIZE, 3]
    assert decoded["finite"]
    log = wan.server.log_path.read_text(errors="replace")
    assert "Requested to load WAN21_Vace" in log  # detected as Wan 2.1 VACE, not another Wan variant
    assert "Missing VAE keys" not in log and "unet missing" not in log and "unet unexpected" not in log


@pytest.mark.comfyui
def test_hand_wired_chained_travel_keeps_the_planned_frame_counts(wan):
    """SegueLoadImages -> (SegueTravelGuide -> WanVaceToVideo -> KSampler -> TrimVideoLatent ->
    VAEDecode -> SegueSaveSegment) per segment, chained on the saved files, -> SegueStitchFiles."""
    require_nodes(wan.server, "SegueLoadImages", "SegueTravelGuide", "SegueSaveSegment", "SegueStitchFiles")
    plan = plan_travel(len(KEY_NAMES), SEGMENT_FRAMES, OVERLAP, MODE, False)
    assert [s.generate_frames for s in plan.segments] == [13, 17]

    run = "segue_wan_test/hand"
    p = Prompt()
    add_model_nodes(p, wan)
    p.add("keys", "SegueLoadImages", images="\n".join(KEY_NAMES), width=0, height=0, fit="crop")
    previous = None
    for seg in plan.segments:
        i = seg.index
        guide_inputs = dict(keyframes=("keys", 0), segment_index=i, segment_frames=str(SEGMENT_FRAMES),
                            overlap=str(OVERLAP), mode=MODE, exact_keyframes=False)
        if previous:
            guide_inputs["previous_video"] = (previous, 0)
        guide = p.add(f"guide{i}", "SegueTravelGuide", **guide_inputs)
        p.add(f"gstats{i}", "SegueTestTensorStats", label=f"guide{i}", images=(guide, 0), masks=(guide, 1))
        dec = add_wan_generator(p, str(i), guide, seed=10 + i)
        previous = p.add(f"save{i}", "SegueSaveSegment", images=(dec, 0), filename=f"{run}/seg_{i:03d}", fps=16.0,
                         trim_start=(guide, 5), expected_frames=seg.generate_frames - seg.trim_start)
    p.add("stitch", "SegueStitchFiles",
          segment_files="\n".join(f"{run}/seg_{i:03d}.mkv [output]" for i in range(len(plan.segments))),
          overlaps=", ".join(map(str, plan.overlaps)), trim_start=0, curve="cosine", sharpen=0.0, fps=16.0,
          filename=f"{run}/final", crf=19, preset="ultrafast", after=(previous, 0))
    samplings = finished_samplings(wan.server)
    entry = wan.server.run(p, timeout=400)
    assert finished_samplings(wan.server) - samplings >= len(plan.segments)  # Wan really sampled each

    for seg in plan.segments:
        g = stats(entry, f"guide{seg.index}")
        assert g["images"]["shape"] == [seg.generate_frames, SIZE, SIZE, 3]
        assert g["masks"]["shape"] == [seg.generate_frames, SIZE, SIZE]
        assert g["masks"]["min"] == 0.0 and g["masks"]["max"] == 1.0  # anchors kept, the rest generated
        [saved] = segue_files(entry, f"save{seg.index}")
        expected = seg.generate_frames - seg.trim_start
        assert saved["frames"] == expected
        assert count_frames(local_path(wan.server, saved)) == expected
    [final] = segue_files(entry, "stitch")
    assert final["frames"] == plan.total_frames
    assert count_frames(local_path(wan.server, final)) == plan.total_frames


@pytest.mark.comfyui
def test_segue_travel_two_phase_recipe_with_a_lora_and_a_reference_image(wan):
    """SegueTravel + SegueRecipe (two experts, a two-phase schedule with a LoRA on the second phase,
    a VACE reference image) expands into the real core chain: LoraLoaderModelOnly ->
    ModelSamplingSD3 -> SegueVaceEncode (WanVaceToVideo with the reference) -> KSamplerAdvanced x2 ->
    TrimVideoLatent (the reference latent frame cut) -> SegueSaveStep (VAEDecode).  The LoRA really
    applies: the same run at LoRA strength 0 gives other frames; the frame counts are the plan's."""
    from wan_tiny_weights import LORA_FILE, write_tiny_lora

    require_nodes(wan.server, "SegueLoadImages", "SegueTravel", "SegueRecipe")
    write_tiny_lora(wan.server.base / "models" / "loras" / LORA_FILE)
    plan = plan_travel(len(KEY_NAMES), SEGMENT_FRAMES, OVERLAP, MODE, False)
    finals = []
    for strength in (1.0, 0.0):
        p = Prompt()
        add_model_nodes(p, wan)
        p.add("keys", "SegueLoadImages", images="\n".join(KEY_NAMES), width=0, height=0, fit="crop")
        p.add("ref", "SegueLoadImages", images=KEY_NAMES[0], width=0, height=0, fit="crop")
        phases = json.dumps([{"model": "high", "end_step": 1, "cfg": 1.0},
                             {"model": "low", "cfg": 1.0, "loras": [{"name": LORA_FILE, "strength": strength}]}])
        p.add("recipe", "SegueRecipe", generator="wan-vace", model=("unet", 0), model_low_noise=("unet", 0),
              vae=("vae", 0), positive=("pos", 0), negative=("neg", 0), reference_image=("ref", 0), seed=20,
              seed_policy="increment", steps=STEPS, cfg=1.0, sampler_name="euler", scheduler="simple", shift=SHIFT,
              phases=phases, loras="", segment_loras="", vace_strength=1.0, preview_method="flow",
              colour_match="none", colour_method="lab", colour_strength=1.0, saturation=1.0, brightness=0.0,
              template="")
        p.add("travel", "SegueTravel", keyframes=("keys", 0), recipe=("recipe", 0), prompts="", negative_prompt="",
              segment_frames=str(SEGMENT_FRAMES), overlap=str(OVERLAP), mode=MODE, exact_keyframes=False,
              curve="cosine", sharpen=0.0, filename_prefix="segue_wan_test/recipe", keep_segments=False, crf=0,
              preset="ultrafast", output_images=False)
        entry = wan.server.run(p, timeout=600)
        files = {node: f for node, ui in entry["outputs"].items() for f in ui.get("segue_files", [])}
        saves = sorted((node for node in files if node.endswith(".save")))
        assert [files[n]["frames"] for n in saves] == [s.kept_frames for s in plan.segments]
        [final] = [f for node, f in files.items() if node.endswith("stitch")]
        assert final["frames"] == plan.total_frames == count_frames(local_path(wan.server, final))
        finals.append(read_frames(local_path(wan.server, final)))
    log = wan.server.log_path.read_text(errors="replace")
    assert "lora key not loaded" not in log
    assert not torch.equal(finals[0], finals[1]), "the LoRA changed nothing: it was not applied"
