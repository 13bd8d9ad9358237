"""Every recipe's orchestrator prompts against a real ComfyUI: its /object_info and its own /prompt
validation find nothing wrong with them but the model files that are not installed.

The server's models/ folder gets a few (empty) files, so a prompt names some files that exist and
some that do not: exactly the absent ones must be reported, by ``validate_prompt`` (what the
orchestrator checks before it submits anything) and by ComfyUI itself.  The minimal contract the
unit tests validate against (tests/test_orchestration_graphs.py) and the SegueRecipe widget
defaults the both-ways test copies (tests/test_chains.py) are checked against the real nodes here.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections import Counter

import cv2
import numpy as np
import pytest

from segue.orchestration.runs.prompts import detached_prompt, load_template, step_prompt, validate_prompt
from segue.orchestration.runs.models import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.runs.steps import join_steps, travel_steps

from test_chains import LIGHTNING_PHASES, NODE_RECIPE_DEFAULTS
from test_orchestration_graphs import CONTRACT, TEST_ONLY

pytestmark = pytest.mark.comfyui

RUN = "recipes"
# Files put into the server's models/ folders (present) and names nobody has (absent).
PRESENT = {"vae": "segue_recipes_vae.safetensors", "text_encoders": "segue_recipes_umt5.safetensors",
           "loras": "segue_recipes_style.safetensors"}
ABSENT = {"unet": "segue_absent_wan21.safetensors", "high": "segue_absent_high.safetensors",
          "low": "segue_absent_low.safetensors", "flf": "segue_absent_flf.safetensors",
          "lightning_high": "segue_absent_lightning_high.safetensors",
          "lightning_low": "segue_absent_lightning_low.safetensors", "seg0": "segue_absent_seg0.safetensors",
          "clip_vision": "segue_absent_clip_vision_h.safetensors", "tpl_unet": "segue_absent_tpl.safetensors"}
COMMON = {"vae": PRESENT["vae"], "clip": PRESENT["text_encoders"]}
STYLE = {"name": PRESENT["loras"], "strength": 0.6}
THREE_PHASE = {
    "kind": "wan22-vace", "unet": ABSENT["high"], "unet_low": ABSENT["low"], **COMMON, "steps": 6, "cfg": 3.0,
    "shift": 8.0, "loras": [STYLE], "segment_loras": [[{"name": ABSENT["seg0"], "strength": 0.5}]],
    "phases": [LIGHTNING_PHASES[0],
               dict(LIGHTNING_PHASES[1], loras=[{"name": ABSENT["lightning_high"], "strength": 1.0}]),
               dict(LIGHTNING_PHASES[2], loras=[{"name": ABSENT["lightning_low"], "strength": 0.9}])],
}


def unknown(cls_input: str, key: str) -> tuple[str, str]:
    return (ABSENT[key], cls_input)


UNET = "UNETLoader.unet_name"
LORA = "LoraLoaderModelOnly.lora_name"
# name: (generator, reference image?, {step id or "detached": the absent files it names})
RECIPES = {
    "preview": ({"kind": "preview", "preview_method": "blend", "colour_match": "previous", "saturation": 0.9},
                False, {}),
    "wan21-single": ({"kind": "wan21-vace", "unet": ABSENT["unet"], **COMMON, "steps": 4, "shift": 3.0,
                      "loras": [STYLE]}, False, {"*": {unknown(UNET, "unet")}}),
    "wan22-two-experts": ({"kind": "wan22-vace", "unet": ABSENT["high"], "unet_low": ABSENT["low"], **COMMON,
                           "steps": 6, "split_step": 2}, False, {"*": {unknown(UNET, "high"), unknown(UNET, "low")}}),
    "three-phase-lightning": (THREE_PHASE, True, {
        "*": {unknown(UNET, "high"), unknown(UNET, "low"), unknown(LORA, "lightning_high"),
              unknown(LORA, "lightning_low")},
        # segment 0's own LoRA sits on both experts' chains: two loader nodes name it; in the whole
        # run segment 0's Lightning LoRAs follow it, so they are other nodes than segment 1's
        "seg_000": {unknown(LORA, "seg0"): 2},
        "detached": {unknown(LORA, "seg0"): 2, unknown(LORA, "lightning_high"): 1,
                     unknown(LORA, "lightning_low"): 1}}),
    "flf": ({"kind": "wan-flf", "unet": ABSENT["flf"], **COMMON, "steps": 4}, False, {"*": {unknown(UNET, "flf")}}),
    "flf-clip-vision": ({"kind": "wan-flf", "unet": ABSENT["flf"], **COMMON, "clip_vision": ABSENT["clip_vision"],
                         "steps": 4}, False,
                        {"*": {unknown(UNET, "flf"), unknown("CLIPVisionLoader.clip_name", "clip_vision")}}),
    "template": ({"kind": "template"}, False, {"*": {unknown(UNET, "tpl_unet")}}),
}


def expected_unknown(spec: dict, step_id: str) -> Counter:
    """The absent files a prompt names, each as often as loader nodes name it: every step's, plus
    its own ("detached": all of them; the finals none)."""
    if step_id == "final":
        return Counter()
    return Counter(spec.get("*", ())) + Counter(spec.get(step_id, {}))


def template_graph() -> dict:
    """A user's sampler graph: its own model loader, WanVaceToVideo, sampler, trim and decode."""
    return {
        "1": {"class_type": "SegueGuideSlot", "inputs": {}},
        "2": {"class_type": "UNETLoader", "inputs": {"unet_name": ABSENT["tpl_unet"], "weight_dtype": "default"}},
        "3": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["2", 0], "shift": 5.0}},
        "4": {"class_type": "VAELoader", "inputs": {"vae_name": PRESENT["vae"]}},
        "5": {"class_type": "CLIPLoader", "inputs": {"clip_name": PRESENT["text_encoders"], "type": "wan"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["5", 0]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["5", 0]}},
        "8": {"class_type": "WanVaceToVideo", "inputs": {
            "positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 0], "width": ["1", 3], "height": ["1", 4],
            "length": ["1", 2], "batch_size": 1, "strength": 1.0, "control_video": ["1", 0],
            "control_masks": ["1", 1]}},
        "9": {"class_type": "KSampler", "inputs": {
            "model": ["3", 0], "seed": "{{seed}}", "steps": 4, "cfg": 5.0, "sampler_name": "uni_pc",
            "scheduler": "simple", "positive": ["8", 0], "negative": ["8", 1], "latent_image": ["8", 2],
            "denoise": 1.0}},
        "10": {"class_type": "TrimVideoLatent", "inputs": {"samples": ["9", 0], "trim_amount": ["8", 3]}},
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["4", 0]}},
        "12": {"class_type": "SegueFramesSlot", "inputs": {"images": ["11", 0]}},
    }


# --- the server side -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(comfy_server):
    """The shared server with the present model files and this run's inputs in place."""
    for folder, name in PRESENT.items():
        path = comfy_server.base / "models" / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    folder = comfy_server.input_dir / "segue" / RUN
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        img = np.full((48, 64, 3), 40 + 60 * i, np.uint8)
        cv2.imwrite(str(folder / f"key_{i:03d}.png"), img)
    cv2.imwrite(str(folder / "ref_000.png"), np.full((48, 64, 3), 200, np.uint8))
    (folder / "template.json").write_text(json.dumps(template_graph()))
    return comfy_server


@pytest.fixture(scope="module")
def object_info(server):
    info = server.get("/object_info", timeout=120)
    for folder, name in (("vae", "vae_name"), ("text_encoders", "clip_name"), ("loras", "lora_name")):
        cls = {"vae": "VAELoader", "text_encoders": "CLIPLoader", "loras": "LoraLoaderModelOnly"}[folder]
        options = info[cls]["input"]["required"][name][0]
        assert PRESENT[folder] in options, f"the server does not list {PRESENT[folder]} in {cls}.{name}"
    return info


def travel_run(server, generator: dict, reference: bool) -> tuple[TravelRun, object, list[str]]:
    folder = server.input_dir / "segue" / RUN
    generator = dict(generator)
    if generator["kind"] == "template":
        generator["template"] = str(folder / "template.json")
    if reference:
        generator["reference_image"] = str(folder / "ref_000.png")
    run = TravelRun(images=[str(folder / f"key_{i:03d}.png") for i in range(3)], segment_frames=16, overlap=4,
                    prompts=["one", "two"], negative_prompts="blurry", seed=5, run_id=RUN,
                    generator=GeneratorConfig.from_dict(generator))
    plan = run.validate()
    inputs = [f"segue/{RUN}/key_{i:03d}.png [input]" for i in range(3)]
    return run, plan, inputs + ([f"segue/{RUN}/ref_000.png [input]"] if reference else [])


def reported(errors: list[str], url: str) -> Counter:
    """The (file, Class.input) of every "unknown model file" line (one per node); any other line fails."""
    found = Counter()
    for line in errors:
        match = re.match(rf"unknown model file '([^']+)' for (\w+\.\w+) on {re.escape(url)} ", line)
        assert match, f"validation reported more than absent model files: {line}"
        found[(match.group(1), match.group(2))] += 1
    return found


# --- the tests -----------------------------------------------------------------------------------------

def test_the_unit_tests_contract_is_the_real_servers(object_info):
    """CONTRACT (what test_orchestration_graphs validates against) declares what the real nodes
    declare: the same inputs, required or optional, of the same types, and the same outputs."""
    def kind(spec):
        return "COMBO" if isinstance(spec[0], list) or spec[0] == "COMBO" else spec[0]

    def options(spec):
        return spec[0] if isinstance(spec[0], list) else spec[1].get("options", [])

    for cls, (required, optional, outputs) in CONTRACT.items():
        real = object_info.get(cls)
        assert real, f"{cls} is not on the server"
        for group, mine in (("required", required), ("optional", optional)):
            theirs = real["input"].get(group, {})
            assert set(theirs) == set(mine), f"{cls} {group} inputs: server {sorted(theirs)}, contract {sorted(mine)}"
            for name, value in mine.items():
                if isinstance(value, list):
                    assert kind(theirs[name]) == "COMBO", f"{cls}.{name} is not a combo on the server"
                    if cls.startswith("Segue") or name in ("type", "add_noise", "return_with_leftover_noise"):
                        assert set(value) <= set(options(theirs[name])), f"{cls}.{name} options"
                else:
                    assert kind(theirs[name]) == value, f"{cls}.{name}: server {kind(theirs[name])}, contract {value}"
        assert list(real["output"]) == outputs, f"{cls} outputs: server {real['output']}, contract {outputs}"
    assert TEST_ONLY <= set(CONTRACT)


def test_the_both_ways_test_copies_the_real_recipe_nodes_defaults(object_info):
    """tests/test_chains.py builds SegueTravel's side with these SegueRecipe widget defaults."""
    recipe = object_info["SegueRecipe"]["input"]
    widgets = {name: spec for name, spec in recipe["required"].items()}
    assert set(widgets) == set(NODE_RECIPE_DEFAULTS), "SegueRecipe's widgets changed: update test_chains"
    for name, default in NODE_RECIPE_DEFAULTS.items():
        assert widgets[name][1].get("default") == default, f"SegueRecipe.{name} default"
    models = {name for name, spec in recipe.get("optional", {}).items() if spec[1].get("lazy")}
    assert models == {"model", "model_low_noise", "vae", "clip", "positive", "negative", "clip_vision",
                      "reference_image"}


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipes_prompts_validate_but_for_the_absent_model_files(server, object_info, name):
    generator, reference, absent = RECIPES[name]
    run, plan, inputs = travel_run(server, generator, reference)
    template = load_template(run.generator.template) if run.generator.kind == "template" else None
    for step in travel_steps(plan):
        prompt = step_prompt(run, plan, step, inputs, template)
        errors = validate_prompt(prompt, object_info, server.url)
        assert reported(errors, server.url) == expected_unknown(absent, step.id), f"{name} {step.id}: {errors}"
    # the whole run: loaders shared, so each absent file once per node (a template's per segment)
    errors = validate_prompt(detached_prompt(run, plan, inputs), object_info, server.url)
    per_segment = len(plan.segments) if run.generator.kind == "template" else 1
    expected = Counter({k: v * per_segment for k, v in expected_unknown(absent, "detached").items()})
    assert reported(errors, server.url) == expected, f"{name} detached: {errors}"


@pytest.mark.parametrize("generator", ["preview", "three-phase"])
def test_join_prompts_validate_but_for_the_absent_model_files(server, object_info, generator):
    gen = RECIPES["preview"][0] if generator == "preview" else THREE_PHASE
    run = JoinRun(clips=[ClipRef(f"/x/c{i}.mp4", f"c{i}") for i in range(3)], context=4, gap=9, run_id="recipes-j",
                  clip_frames=[40, 30, 40], fps=16.0, generator=GeneratorConfig.from_dict(gen),
                  per_join=[{"gap": 13, "prompt": "first"}])
    plan = run.plan()
    clips = [f"segue/recipes-j/clip_{i:03d}.mp4 [input]" for i in range(3)]
    absent = {} if generator == "preview" else RECIPES["three-phase-lightning"][2]
    for step in join_steps(plan):
        errors = validate_prompt(step_prompt(run, plan, step, clips), object_info, server.url)
        expected = expected_unknown(absent, "seg_000" if step.id == "trans_000" else step.id)
        assert reported(errors, server.url) == expected, f"{step.id}: {errors}"
    errors = validate_prompt(detached_prompt(run, plan, clips), object_info, server.url)
    assert reported(errors, server.url) == expected_unknown(absent, "detached")


def post_prompt(server, prompt: dict) -> tuple[int, dict]:
    body = json.dumps({"prompt": prompt, "prompt_id": str(uuid.uuid4()), "client_id": "segue-recipes"}).encode()
    request = urllib.request.Request(server.url + "/prompt", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_the_servers_own_validation_names_only_the_absent_model_files(server, object_info):
    """The three-phase Lightning recipe with LoRAs and a reference image, segment 0: ComfyUI
    refuses it for exactly the loaders whose files it lacks, and for nothing else."""
    run, plan, inputs = travel_run(server, THREE_PHASE, True)
    prompt = step_prompt(run, plan, travel_steps(plan)[0], inputs)
    status, reply = post_prompt(server, prompt)
    assert status == 400, reply
    node_errors = reply["node_errors"]
    files = {}
    for node_id, entry in node_errors.items():
        assert entry["class_type"] in ("UNETLoader", "LoraLoaderModelOnly"), (node_id, entry)
        for error in entry["errors"]:
            assert error["type"] == "value_not_in_list", (node_id, error)
        files[node_id] = prompt[node_id]["inputs"].get("unet_name") or prompt[node_id]["inputs"]["lora_name"]
        assert files[node_id] in json.dumps(entry["errors"])
    assert sorted(files.values()) == sorted([ABSENT["high"], ABSENT["low"], ABSENT["lightning_high"],
                                             ABSENT["lightning_low"], ABSENT["seg0"], ABSENT["seg0"]])
    assert {o for entry in node_errors.values() for o in entry["dependent_outputs"]} == {"save"}
    # ... and validate_prompt said the same beforehand, node for node
    said = reported(validate_prompt(prompt, object_info, server.url), server.url)
    assert sorted(f for (f, _), n in said.items() for _ in range(n)) == sorted(files.values())
