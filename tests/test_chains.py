"""The one graph builder (video_utils.core.chains): recipes -> core-node chains, and the proof that the
nodes and the orchestrator build the same chains from the same settings.

Pure: no ComfyUI.  Part 1 checks what a recipe turns into (samplers, phases, LoRAs, shift,
reference image, first-last-frame, templates, seeds, refused settings).  Part 2 builds one travel
both ways — as ``SegueTravel``'s node expansion (``travel_graph`` called the way
nodes/travel_nodes.py calls it, links to the user's loaders standing in for the models) and as the
orchestrator's prompts (``step_prompt`` per step, ``detached_prompt``) — and compares the chains
node for node, up to node names, loaders and file names.  Part 3 breaks one side on purpose and
checks the comparison notices.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest

from segue.video_utils.core import parse
from segue.orchestration.runs import prompts as orchestrator_graphs
from segue.orchestration.runs import common as run_common
from segue.orchestration.runs.prompts import detached_prompt, step_prompt
from segue.orchestration.runs.models import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.runs.steps import join_steps, travel_steps
from segue.video_utils.core.step_settings import EncodeSettings, JoinStepSettings, TravelDelivery, TravelStepSettings
from segue.video_utils.core.chains import SaveTo, Sources, Texts, join_graph, post_inputs, step_chain, travel_graph
from segue.video_utils.core.constants import DEFAULT_SEED_POLICY, FILE_FOLDERS, GENERATION_FPS
from segue.video_utils.core.errors import PlanError
from segue.video_utils.core.prompt_graph import Graph, is_link, load_template
from segue.video_utils.core.join_plan import plan_join
from segue.video_utils.core.recipe import LAST_STEP, Lora, Phase, Recipe, item_seeds
from segue.video_utils.core.sizes import wan_size
from segue.video_utils.core.travel_plan import plan_travel

# Links to nodes outside the graph: the user's loaders in a node expansion.
USER = {"model": ["user_unet", 0], "model_low": ["user_unet_low", 0], "vae": ["user_vae", 0],
        "clip": ["user_clip", 0], "clip_vision": ["user_clip_vision", 0], "reference": ["user_reference", 0],
        "positive": ["user_positive", 0], "negative": ["user_negative", 0]}
STEP = ["step", 0]
TEXTS = Texts(("walk", "run", "fly"), ("blurry", "blurry", "blurry"))

LIGHTNING_PHASES = [
    {"model": "high", "end_step": 2, "cfg": 3},
    {"model": "high", "end_step": 4, "cfg": 1, "loras": [{"name": "lightning_high.safetensors", "strength": 1.0}]},
    {"model": "low", "cfg": 1, "loras": ["lightning_low.safetensors:0.9"]},
]
LIGHTNING = {"kind": "wan-vace", "steps": 6, "cfg": 3.0, "shift": 8.0, "phases": LIGHTNING_PHASES,
             "loras": [{"name": "style.safetensors", "strength": 0.6}],
             "segment_loras": [["seg0.safetensors:0.5"], []]}


def sources(*connected: str, template: dict | None = None) -> Sources:
    return Sources(**{name: USER[name] for name in connected}, template=template)


WAN = sources("model", "vae", "clip")
WAN2 = sources("model", "model_low", "vae", "clip")


def build(recipe: Recipe, src: Sources = WAN, index: int = 0, seed: int = 7, is_join: bool = False):
    g = Graph()
    video = step_chain(g, recipe, src, STEP, index, seed, TEXTS, SaveTo("run/seg", "output"), "", is_join)
    return g.nodes, video


def of(nodes: dict, cls: str) -> list[tuple[str, dict]]:
    return [(k, n) for k, n in nodes.items() if n["class_type"] == cls]


def only(nodes: dict, cls: str) -> tuple[str, dict]:
    found = of(nodes, cls)
    assert len(found) == 1, f"{len(found)} {cls} nodes, expected 1"
    return found[0]


def sampler_chain(nodes: dict) -> list[dict]:
    """The samplers from the encoder's latent to the saved one, in order (followed through links)."""
    save = nodes["save"]["inputs"]
    link = save["samples"]
    if nodes[link[0]]["class_type"] == "TrimVideoLatent":
        link = nodes[link[0]]["inputs"]["samples"]
    chain = []
    while nodes[link[0]]["class_type"] in ("KSampler", "KSamplerAdvanced"):
        chain.append(nodes[link[0]])
        link = nodes[link[0]]["inputs"]["latent_image"]
    assert link == ["encode", 2], "the first sampler must sample the encoder's latent"
    return chain[::-1]


def model_path(nodes: dict, link: list) -> tuple[list, list[tuple[str, float]], list[float]]:
    """(base model link, LoRAs from the base on, shifts) of a sampler's model input; the shift
    must be the last patch (on top of the LoRAs)."""
    loras, shifts = [], []
    while link[0] in nodes:
        node = nodes[link[0]]
        if node["class_type"] == "ModelSamplingSD3":
            assert not loras, "ModelSamplingSD3 must sit on top of the LoRAs, not under one"
            shifts.append(node["inputs"]["shift"])
        elif node["class_type"] == "LoraLoaderModelOnly":
            loras.insert(0, (node["inputs"]["lora_name"], node["inputs"]["strength_model"]))
        else:
            raise AssertionError(f"unexpected {node['class_type']} in a model chain")
        link = node["inputs"]["model"]
    return link, loras, shifts


# =====================================================================================================
# Part 1: what a recipe turns into
# =====================================================================================================

def test_single_model_is_one_ksampler_fed_by_the_encoder():
    recipe = Recipe(kind="wan-vace", steps=4, cfg=6.0, sampler="euler", scheduler="normal", shift=3.0,
                    vace_strength=1.5)
    nodes, video = build(recipe, seed=11)
    assert video == ["save", 0]
    assert not of(nodes, "KSamplerAdvanced")
    (_, ks) = only(nodes, "KSampler")
    assert sampler_chain(nodes) == [ks]
    i = ks["inputs"]
    assert (i["seed"], i["steps"], i["cfg"], i["sampler_name"], i["scheduler"], i["denoise"]) == \
           (11, 4, 6.0, "euler", "normal", 1.0)
    assert i["positive"] == ["encode", 0] and i["negative"] == ["encode", 1]
    assert model_path(nodes, i["model"]) == (USER["model"], [], [3.0])
    enc = nodes["encode"]
    assert enc["class_type"] == "SegueVaceEncode" and enc["inputs"]["step"] == STEP
    assert enc["inputs"]["strength"] == 1.5 and enc["inputs"]["vae"] == USER["vae"]
    assert "reference_image" not in enc["inputs"]
    texts = {n["inputs"]["text"]: k for k, n in of(nodes, "CLIPTextEncode")}
    assert set(texts) == {"walk", "blurry"}
    assert enc["inputs"]["positive"] == [texts["walk"], 0] and enc["inputs"]["negative"] == [texts["blurry"], 0]
    assert all(n["inputs"]["clip"] == USER["clip"] for _, n in of(nodes, "CLIPTextEncode"))
    save = nodes["save"]
    assert save["class_type"] == "SegueSaveStep" and save["inputs"]["step"] == STEP
    assert save["inputs"]["vae"] == USER["vae"] and (save["inputs"]["filename"], save["inputs"]["folder"]) == \
           ("run/seg", "output")


@pytest.mark.parametrize("steps, split, expected", [(7, None, 3), (20, None, 10), (6, 2, 2), (6, 5, 5)])
def test_two_experts_split_at_split_step(steps, split, expected):
    recipe = Recipe(kind="wan-vace", steps=steps, split_step=split, cfg=4.0)
    nodes, _ = build(recipe, WAN2, seed=9)
    assert not of(nodes, "KSampler")
    high, low = sampler_chain(nodes)
    assert (high["inputs"]["start_at_step"], high["inputs"]["end_at_step"]) == (0, expected)
    assert (low["inputs"]["start_at_step"], low["inputs"]["end_at_step"]) == (expected, LAST_STEP)
    assert (high["inputs"]["add_noise"], high["inputs"]["return_with_leftover_noise"]) == ("enable", "enable")
    assert (low["inputs"]["add_noise"], low["inputs"]["return_with_leftover_noise"]) == ("disable", "disable")
    assert model_path(nodes, high["inputs"]["model"])[0] == USER["model"]
    assert model_path(nodes, low["inputs"]["model"])[0] == USER["model_low"]
    assert {s["inputs"]["noise_seed"] for s in (high, low)} == {9}
    assert {s["inputs"]["steps"] for s in (high, low)} == {steps}
    assert {s["inputs"]["cfg"] for s in (high, low)} == {4.0}


@pytest.mark.parametrize("split", [0, 6, 9])
def test_split_step_outside_the_steps_is_refused(split):
    recipe = Recipe(kind="wan-vace", steps=6, split_step=split)
    with pytest.raises(PlanError, match=rf"split_step={split} must be between 1 and steps-1 \(5\)"):
        build(recipe, WAN2)


def test_three_phase_lightning_recipe():
    """Steps 6: high cfg 3 to step 2, high + Lightning LoRA cfg 1 to step 4, low + Lightning LoRA
    cfg 1 to the end; run-level LoRAs on every model, segment LoRAs only for their segment."""
    recipe = Recipe.from_dict(LIGHTNING)
    for index, own in ((0, [("seg0.safetensors", 0.5)]), (1, []), (2, [])):
        nodes, _ = build(recipe, WAN2, index=index, seed=5)
        phases = sampler_chain(nodes)
        assert [p["class_type"] for p in phases] == ["KSamplerAdvanced"] * 3
        ranges = [(p["inputs"]["start_at_step"], p["inputs"]["end_at_step"]) for p in phases]
        assert ranges == [(0, 2), (2, 4), (4, LAST_STEP)]
        assert [p["inputs"]["add_noise"] for p in phases] == ["enable", "disable", "disable"]
        assert [p["inputs"]["return_with_leftover_noise"] for p in phases] == ["enable", "enable", "disable"]
        assert [p["inputs"]["cfg"] for p in phases] == [3.0, 1.0, 1.0]
        assert {p["inputs"]["noise_seed"] for p in phases} == {5} and {p["inputs"]["steps"] for p in phases} == {6}
        style = [("style.safetensors", 0.6)]
        assert [model_path(nodes, p["inputs"]["model"]) for p in phases] == [
            (USER["model"], style + own, [8.0]),
            (USER["model"], style + own + [("lightning_high.safetensors", 1.0)], [8.0]),
            (USER["model_low"], style + own + [("lightning_low.safetensors", 0.9)], [8.0]),
        ]
        # one ModelSamplingSD3 per distinct model chain (three here), none applied twice
        assert len(of(nodes, "ModelSamplingSD3")) == 3


def test_phase_sampler_and_scheduler_override_the_recipe():
    recipe = Recipe(kind="wan-vace", steps=4, sampler="uni_pc", scheduler="simple",
                    phases=(Phase("high", 2, sampler="euler"), Phase("high", scheduler="beta")))
    nodes, _ = build(recipe)
    first, second = sampler_chain(nodes)
    assert (first["inputs"]["sampler_name"], first["inputs"]["scheduler"]) == ("euler", "simple")
    assert (second["inputs"]["sampler_name"], second["inputs"]["scheduler"]) == ("uni_pc", "beta")
    assert {model_path(nodes, s["inputs"]["model"])[0][0] for s in (first, second)} == {"user_unet"}


def test_shift_zero_uses_the_models_as_connected_and_shift_patches_each_chain_once():
    for recipe, src in ((Recipe(kind="wan-vace", shift=0.0), WAN),
                        (Recipe(kind="wan-vace", shift=0.0, split_step=3, steps=6), WAN2),
                        (Recipe.from_dict({**LIGHTNING, "shift": 0.0}), WAN2)):
        nodes, _ = build(recipe, src)
        assert not of(nodes, "ModelSamplingSD3")
        assert all(model_path(nodes, s["inputs"]["model"])[2] == [] for s in sampler_chain(nodes))
    for recipe, src, chains in ((Recipe(kind="wan-vace", shift=5.0), WAN, 1),
                                (Recipe(kind="wan-vace", shift=5.0, split_step=3, steps=6), WAN2, 2),
                                (Recipe.from_dict(LIGHTNING), WAN2, 3)):
        nodes, _ = build(recipe, src)
        assert len(of(nodes, "ModelSamplingSD3")) == chains
        for s in sampler_chain(nodes):
            patch = nodes[s["inputs"]["model"][0]]
            assert patch["class_type"] == "ModelSamplingSD3"          # directly under the sampler
            assert model_path(nodes, s["inputs"]["model"])[2] == [recipe.shift]   # exactly once


def test_whole_travel_shares_loras_patches_and_text_encodes():
    """Segments with the same LoRAs share one LoRA chain and one ModelSamplingSD3 per expert;
    identical prompts share one text encode."""
    plan = plan_travel(4, 16, 4, "chained")
    recipe = Recipe.from_dict({**LIGHTNING, "segment_loras": []})
    g = Graph()
    texts = Texts(("a", "a", "b"), ("n", "n", "n"))
    travel_graph(g, TravelStepSettings("16", "4"), plan.segments, plan.overlaps, recipe, WAN2, texts,
                 ["user_keys", 0], [SaveTo("", "temp")] * 3, EncodeSettings(), 16.0)
    assert len(of(g.nodes, "KSamplerAdvanced")) == 9
    assert len(of(g.nodes, "ModelSamplingSD3")) == 3            # per distinct chain, not per segment
    assert sorted(n["inputs"]["lora_name"] for _, n in of(g.nodes, "LoraLoaderModelOnly")) == \
           ["lightning_high.safetensors", "lightning_low.safetensors", "style.safetensors", "style.safetensors"]
    assert sorted(n["inputs"]["text"] for _, n in of(g.nodes, "CLIPTextEncode")) == ["a", "b", "n"]


def test_segment_loras_only_for_their_item_and_not_more_than_items():
    recipe = Recipe(kind="wan-vace", loras=(Lora("all.safetensors"),),
                    segment_loras=((), (Lora("one.safetensors", 0.3),)))
    assert recipe.item_loras(0) == (Lora("all.safetensors"),)
    assert recipe.item_loras(1) == (Lora("all.safetensors"), Lora("one.safetensors", 0.3))
    assert recipe.item_loras(2) == (Lora("all.safetensors"),)
    nodes, _ = build(recipe, index=1)
    (ks,) = sampler_chain(nodes)
    assert model_path(nodes, ks["inputs"]["model"])[1] == [("all.safetensors", 1.0), ("one.safetensors", 0.3)]
    recipe.check_items(2)
    with pytest.raises(PlanError, match="segment_loras has 2 entries but there are only 1 segments"):
        recipe.check_items(1)


def test_reference_image_and_trim_wiring():
    nodes, _ = build(Recipe(kind="wan-vace"), sources("model", "vae", "clip", "reference"))
    enc = nodes["encode"]["inputs"]
    assert enc["reference_image"] == USER["reference"]
    (trim_id, trim) = only(nodes, "TrimVideoLatent")
    assert trim["inputs"]["trim_amount"] == ["encode", 3]       # the encoder's trim_latent
    (ks,) = sampler_chain(nodes)
    assert trim["inputs"]["samples"] == [next(k for k, n in nodes.items() if n is ks), 0]
    assert nodes["save"]["inputs"]["samples"] == [trim_id, 0]


def test_ready_conditioning_replaces_the_text_encodes():
    nodes, _ = build(Recipe(kind="wan-vace"), sources("model", "vae", "positive", "negative"))
    assert not of(nodes, "CLIPTextEncode")
    assert nodes["encode"]["inputs"]["positive"] == USER["positive"]
    assert nodes["encode"]["inputs"]["negative"] == USER["negative"]


@pytest.mark.parametrize("vision", [False, True])
def test_first_last_frame_generator(vision):
    connected = ("model", "vae", "clip") + (("clip_vision",) if vision else ())
    nodes, _ = build(Recipe(kind="wan-flf", shift=3.0), sources(*connected, "reference"))
    assert not of(nodes, "SegueVaceEncode") and not of(nodes, "TrimVideoLatent")
    enc = nodes["encode"]
    assert enc["class_type"] == "SegueFirstLastEncode" and enc["inputs"]["step"] == STEP
    assert "reference_image" not in enc["inputs"] and "strength" not in enc["inputs"]
    assert enc["inputs"].get("clip_vision") == (USER["clip_vision"] if vision else None)
    (ks,) = sampler_chain(nodes)
    assert nodes["save"]["inputs"]["samples"] == [next(k for k, n in nodes.items() if n is ks), 0]
    assert model_path(nodes, ks["inputs"]["model"]) == (USER["model"], [], [3.0])


def test_preview_generator_is_one_node():
    recipe = Recipe(kind="preview", preview_method="blend", colour_match="previous", saturation=0.9)
    nodes, video = build(recipe, Sources(), index=1)
    assert list(nodes) == ["save"] and video == ["save", 0]
    i = nodes["save"]["inputs"]
    assert nodes["save"]["class_type"] == "SeguePreviewStep"
    assert (i["step"], i["method"], i["colour_match"], i["saturation"]) == (STEP, "blend", "previous", 0.9)


def template_graph() -> dict:
    return {
        "5": {"class_type": "SegueGuideSlot", "inputs": {}},
        "6": {"class_type": "WanVaceToVideo", "inputs": {"control_video": ["5", 0], "control_masks": ["5", 1],
                                                         "length": ["5", 2], "width": ["5", 3], "height": ["5", 4],
                                                         "positive": ["8", 0], "negative": ["8", 0], "vae": ["9", 0],
                                                         "batch_size": 1, "strength": 1.0}},
        "7": {"class_type": "SegueFramesSlot", "inputs": {"images": ["10", 0]}},
        "8": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": "{{seed}}", "tokens": 8},
              "_meta": {"title": "cond {{index}}"}},
        "9": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_vae.safetensors"}},
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 2], "vae": ["9", 0]}},
        "11": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}} / {{negative_prompt}} #{{index}}",
                                                          "clip": ["12", 0]}},
        "12": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5.safetensors", "type": "wan"}},
    }


def test_template_generator_splices_the_users_graph():
    nodes, _ = build(Recipe(kind="template", template="t.json"), Sources(template=template_graph()), index=2,
                     seed=42)
    assert not of(nodes, "SegueGuideSlot") and not of(nodes, "SegueFramesSlot")
    assert nodes["guide"] == {"class_type": "SegueStepGuide", "inputs": {"step": STEP}}
    vace = nodes["tpl.6"]["inputs"]
    assert [vace[k] for k in ("control_video", "control_masks", "length", "width", "height")] == \
           [["guide", i] for i in range(5)]
    assert vace["positive"] == ["tpl.8", 0] and vace["vae"] == ["tpl.9", 0]
    assert nodes["tpl.8"]["inputs"]["seed"] == 42                      # exactly "{{seed}}": a number
    assert nodes["tpl.11"]["inputs"]["text"] == "fly / blurry #2"
    save = nodes["save"]
    assert save["class_type"] == "SegueSaveStep" and save["inputs"]["images"] == ["tpl.10", 0]
    assert "samples" not in save["inputs"] and save["inputs"]["step"] == STEP


def test_template_links_to_missing_nodes_are_refused():
    bad = template_graph()
    bad["10"]["inputs"]["vae"] = ["99", 0]
    with pytest.raises(PlanError, match="template links to node '99'"):
        build(Recipe(kind="template", template="t.json"), Sources(template=bad))
    bad = template_graph()
    bad["10"]["inputs"]["samples"] = ["7", 0]                           # the frames slot is no source
    with pytest.raises(PlanError, match="template links to node '7'"):
        build(Recipe(kind="template", template="t.json"), Sources(template=bad))


def test_saturation_and_brightness_apply_after_the_first_segment_and_to_every_transition():
    recipe = Recipe(saturation=0.8, brightness=0.05, colour_match="first_keyframe", colour_strength=0.5)
    first, later, join0 = post_inputs(recipe, 0, False), post_inputs(recipe, 1, False), post_inputs(recipe, 0, True)
    assert (first["saturation"], first["brightness"]) == (1.0, 0.0)
    assert (later["saturation"], later["brightness"]) == (0.8, 0.05) == (join0["saturation"], join0["brightness"])
    assert first["colour_match"] == later["colour_match"] == "first_keyframe"
    assert first["colour_strength"] == 0.5
    nodes, _ = build(Recipe(kind="wan-vace", saturation=0.8), index=1)
    assert nodes["save"]["inputs"]["saturation"] == 0.8


# --- refused schedules and settings ------------------------------------------------------------------

@pytest.mark.parametrize("phases, has_low, message", [
    ([{"end_step": 3}, {"end_step": 3}, {}], False, r"phases\[1\]\.end_step=3 must be above 3"),
    ([{"end_step": 4}, {"end_step": 2}, {}], False, r"phases\[1\]\.end_step=2 must be above 4"),
    ([{"end_step": 2}, {"end_step": 4}], False, r"phases\[1\]\.end_step=4: the last phase runs to the end"),
    ([{"end_step": 2}, {}, {}], False, r"phases\[1\]\.end_step=None must be above 2"),
    ([{"end_step": 6}, {}], False, r"phases\[0\]\.end_step=6 must be above 0 .* below steps=6"),
    ([{"end_step": 2}, {"model": "low"}], False, r"phases\[1\] uses the low-noise expert but none is connected"),
])
def test_bad_phase_schedules_name_the_phase(phases, has_low, message):
    recipe = Recipe.from_dict({"kind": "wan-vace", "steps": 6, "phases": phases})
    with pytest.raises(PlanError, match=message):
        recipe.sampling(has_low)
    with pytest.raises(PlanError, match=message):
        recipe.validate("recipe", has_low=has_low)
    with pytest.raises(PlanError, match=message):
        build(recipe, WAN2 if has_low else WAN)


def test_last_phase_may_name_the_last_step():
    recipe = Recipe.from_dict({"kind": "wan-vace", "steps": 6, "phases": [{"end_step": 3}, {"end_step": 6}]})
    assert [(r.start, r.end) for r in recipe.sampling(False)] == [(0, 3), (3, LAST_STEP)]


def test_seed_policies():
    assert Recipe().seed_policy == DEFAULT_SEED_POLICY == "increment"
    assert TravelRun(images=[]).seed_mode == JoinRun(clips=[]).seed_mode == DEFAULT_SEED_POLICY
    assert GeneratorConfig().recipe().seed_policy == DEFAULT_SEED_POLICY
    assert item_seeds(5, 3) == [5, 6, 7] == Recipe(seed=5).item_seeds(3)
    assert item_seeds(5, 3, "fixed") == [5, 5, 5]
    assert item_seeds(2 ** 64 - 1, 2) == [2 ** 64 - 1, 0]
    with pytest.raises(PlanError, match="seed_policy='random' is not one of increment, fixed"):
        item_seeds(1, 2, "random")
    plan = plan_travel(4, 16, 4, "chained")
    for policy, expected in (("increment", [5, 6, 7]), ("fixed", [5, 5, 5])):
        g = Graph()
        travel_graph(g, TravelStepSettings("16", "4"), plan.segments, plan.overlaps,
                     Recipe(kind="wan-vace", seed=5, seed_policy=policy), WAN, TEXTS, ["user_keys", 0],
                     [SaveTo()] * 3, EncodeSettings(), 16.0)
        assert [g.nodes[f"seg_{i:03d}.sample"]["inputs"]["seed"] for i in range(3)] == expected


@pytest.mark.parametrize("data, message", [
    ({"stepz": 4}, r"generator has unknown keys \['stepz'\]"),
    ({"steps": -1}, r"generator\.steps=-1 is outside 1\.\.10000"),
    ({"steps": 0}, r"generator\.steps=0 is outside"),
    ({"steps": 2.5}, r"generator\.steps=2\.5 must be a whole number"),
    ({"steps": True}, r"generator\.steps=True must be a whole number"),
    ({"steps": "20"}, r"generator\.steps='20' must be a whole number"),
    ({"cfg": math.nan}, r"generator\.cfg=nan must be a finite number"),
    ({"shift": math.inf}, r"generator\.shift=inf must be a finite number"),
    ({"shift": -1.0}, r"generator\.shift=-1 is outside 0\.\.100"),
    ({"vace_strength": "1"}, r"generator\.vace_strength='1' must be a number"),
    ({"seed": -1}, r"generator\.seed=-1 is outside"),
    ({"seed": 2 ** 64}, r"generator\.seed=\d+ is outside"),
    ({"split_step": 0}, r"generator\.split_step=0 is outside"),
    ({"kind": "wan23"}, r"generator='wan23' is not a generator"),
    ({"kind": "template"}, r"the template generator needs the template file"),
    ({"seed_policy": "random"}, r"generator\.seed_policy='random' is not one of increment, fixed"),
    ({"preview_method": "warp"}, r"generator\.preview_method='warp' is not one of flow, blend"),
    ({"colour_match": "all"}, r"generator\.colour_match='all' is not one of"),
    ({"saturation": 5.0}, r"generator\.saturation=5 is outside 0\.\.4"),
    ({"phases": {"model": "high"}}, r"generator\.phases=.* must be a list"),
    ({"phases": [{"model": "mid"}]}, r"generator\.phases\[0\]\.model='mid'"),
    ({"phases": [{"end": 2}]}, r"generator\.phases\[0\] has unknown keys \['end'\]"),
    ({"phases": [{"end_step": 0}]}, r"generator\.phases\[0\]\.end_step=0 is outside"),
    ({"phases": [{"cfg": math.nan}]}, r"generator\.phases\[0\]\.cfg=nan must be a finite number"),
    ({"loras": [{"name": ""}]}, r"generator\.loras\[0\] has no LoRA file name"),
    ({"loras": [{"name": "a", "weight": 1}]}, r"generator\.loras\[0\] has unknown keys \['weight'\]"),
    ({"loras": [{"name": "a", "strength": math.inf}]}, r"generator\.loras\[0\]\.strength=inf must be a finite"),
    ({"loras": [3]}, r"generator\.loras\[0\]=3 is not a LoRA"),
    ({"segment_loras": [[], [{"name": "a", "strength": "x"}]]}, r"segment_loras\[1\]\[0\]\.strength='x' must be"),
])
def test_recipe_from_dict_refuses_bad_settings(data, message):
    with pytest.raises(PlanError, match=message):
        Recipe.from_dict({"kind": "wan-vace", **data})


def test_recipe_from_dict_reads_aliases_and_round_trips():
    recipe = Recipe.from_dict({**LIGHTNING, "kind": "wan22-vace", "seed": 3, "seed_policy": "fixed"})
    assert recipe.kind == "wan-vace" and recipe.phases[2] == Phase("low", None, 1.0, loras=(
        Lora("lightning_low.safetensors", 0.9),))
    assert recipe.segment_loras == ((Lora("seg0.safetensors", 0.5),), ())
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    assert Lora.parse("a.safetensors", "x") == Lora("a.safetensors") == Lora.parse(["a.safetensors", 1], "x")
    assert Lora.parse("dir/a:b.safetensors", "x") == Lora("dir/a:b.safetensors")   # not a strength: kept


# =====================================================================================================
# Part 2: the same settings built both ways give the same core-node chains
# =====================================================================================================

# SegueRecipe's widget defaults (nodes/recipe_nodes.py); test_recipes_comfyui checks them against the
# real node's /object_info.
NODE_RECIPE_DEFAULTS = {
    "generator": "wan-vace", "seed": 0, "seed_policy": DEFAULT_SEED_POLICY, "steps": Recipe().steps,
    "cfg": Recipe().cfg, "sampler_name": Recipe().sampler, "scheduler": Recipe().scheduler, "shift": Recipe().shift,
    "phases": "", "loras": "", "segment_loras": "",
    "vace_strength": Recipe().vace_strength, "preview_method": Recipe().preview_method,
    "colour_match": Recipe().colour_match, "colour_method": Recipe().colour_method,
    "colour_strength": Recipe().colour_strength, "saturation": Recipe().saturation,
    "brightness": Recipe().brightness, "template": "",
}
# Plan-file generator key -> SegueRecipe widget.
WIDGET = {"kind": "generator", "sampler": "sampler_name"}
KIND = {"wan21-vace": "wan-vace", "wan22-vace": "wan-vace"}


def lora_text(loras) -> str:
    def one(v):
        lora = Lora.parse(v, "lora")
        return f"{lora.name}:{lora.strength:g}"
    return "\n".join(one(v) for v in loras)


def node_widgets(settings: dict, seed: int, seed_policy: str | None) -> dict:
    """The SegueRecipe widget values a user types for these plan-file generator settings."""
    widgets = dict(NODE_RECIPE_DEFAULTS, seed=seed)
    if seed_policy:
        widgets["seed_policy"] = seed_policy
    for key, value in settings.items():
        if key == "kind":
            value = KIND.get(value, value)
        elif key == "phases":
            value = json.dumps(value)
        elif key == "loras":
            value = lora_text(value)
        elif key == "segment_loras":
            value = "\n".join(lora_text(row).replace("\n", ", ") or "-" for row in value)
        widgets[WIDGET.get(key, key)] = value
    return widgets


def node_recipe(w: dict) -> Recipe:
    """What SegueRecipe.execute makes of its widgets (nodes/recipe_nodes.py)."""
    phases = tuple(Phase.parse(p, f"phases[{i}]") for i, p in enumerate(json.loads(w["phases"] or "[]")))
    loras = tuple(Lora.parse(v, "loras") for v in parse.lines(w["loras"], "loras", required=False))
    rows = []
    for line in w["segment_loras"].splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            items = [] if line == "-" else [t.strip() for t in line.split(",") if t.strip()]
            rows.append(tuple(Lora.parse(t, "segment_loras") for t in items))
    recipe = Recipe(kind=w["generator"], steps=int(w["steps"]), cfg=float(w["cfg"]), sampler=w["sampler_name"],
                    scheduler=w["scheduler"], shift=float(w["shift"]),
                    phases=phases, loras=loras, segment_loras=tuple(rows), vace_strength=float(w["vace_strength"]),
                    preview_method=w["preview_method"], colour_match=w["colour_match"],
                    colour_method=w["colour_method"], colour_strength=float(w["colour_strength"]),
                    saturation=float(w["saturation"]), brightness=float(w["brightness"]), seed=int(w["seed"]),
                    seed_policy=w["seed_policy"], template=str(w["template"]).strip())
    recipe.validate("recipe")
    return recipe


def node_expansion(case: "Case", settings: dict | None, template: dict | None) -> dict:
    """SegueTravel.execute's graph (nodes/travel_nodes.py), before ComfyUI prefixes its ids: a
    SegueRecipe connected (or, for ``recipe=None``, none: the preview default)."""
    count = case.keyframes
    frames = parse.one_or_list(parse.int_list(case.segment_frames, "segment_frames"))
    overlaps = parse.one_or_list(parse.int_list(case.overlap, "overlap"))
    plan = plan_travel(count, frames, overlaps, case.mode, bool(case.exact_keyframes), loop=bool(case.loop))
    n = len(plan.segments)
    if settings is None:
        recipe, src = Recipe(), Sources()
    else:
        recipe = node_recipe(node_widgets(settings, case.seed, case.seed_policy))
        src = Sources(**{name: USER[name] for name in case.connected},
                      template=template if recipe.kind == "template" else None)
        if recipe.kind in ("wan-vace", "wan-flf"):
            recipe.validate("recipe", has_low=src.model_low is not None)
    recipe.check_items(n)
    settings = TravelStepSettings(str(case.segment_frames), str(case.overlap), case.mode, bool(case.exact_keyframes),
                                  float(case.strength), float(case.desaturate), float(case.darken), bool(case.loop))
    texts = Texts(tuple(parse.per_segment_text("\n".join(case.prompts), n, "prompts")), (case.negative,) * n)
    g = Graph()
    travel_graph(g, settings, plan.segments, plan.overlaps, recipe, src, texts, ["user_keys", 0],
                 [SaveTo("", FILE_FOLDERS[0])] * n,
                 EncodeSettings(case.curve, float(case.sharpen), int(case.crf), case.preset,
                                filename_prefix="segue/travel"), float(GENERATION_FPS),
                 TravelDelivery(loop=bool(case.loop)))       # SegueTravel's delivery widgets at their defaults
    return g.nodes


@dataclasses.dataclass
class Case:
    name: str
    settings: dict | None                      # the plan file's generator (None: no recipe / preview)
    files: dict = dataclasses.field(default_factory=dict)
    connected: tuple = ()                      # SegueRecipe inputs the node user connects
    reference: bool = False
    seed: int = 0
    seed_policy: str | None = None             # None = each side's default
    keyframes: int = 4
    segment_frames: str = "16"
    overlap: str = "4"
    mode: str = "chained"
    exact_keyframes: bool = False
    loop: bool = False
    strength: float = 1.0
    desaturate: float = 0.0
    darken: float = 0.0
    prompts: tuple = ("one", "two", "three")
    negative: str = "blurry"
    curve: str = "linear"
    sharpen: float = 0.1
    crf: int = 17
    preset: str = "fast"


WAN_FILES = {"unet": "wan_vace.safetensors", "vae": "wan_vae.safetensors", "clip": "umt5.safetensors"}
WAN22_FILES = {"unet": "high.safetensors", "unet_low": "low.safetensors", "vae": "wan_vae.safetensors",
               "clip": "umt5.safetensors"}
CASES = [
    Case("preview-default", None, seed=0),
    Case("preview-recipe", {"kind": "preview", "preview_method": "blend", "colour_match": "previous",
                            "saturation": 0.9, "brightness": -0.05}, seed=4, mode="independent",
         exact_keyframes=True, strength=0.7, desaturate=0.2, darken=0.1),
    Case("wan21-single", {"kind": "wan21-vace", "steps": 4, "cfg": 6.0, "sampler": "euler", "scheduler": "normal",
                          "shift": 3.0, "vace_strength": 1.5}, WAN_FILES, ("model", "vae", "clip"), seed=11),
    Case("wan21-defaults", {"kind": "wan21-vace"}, WAN_FILES, ("model", "vae", "clip"), seed=2),
    Case("wan22-split", {"kind": "wan22-vace", "steps": 6, "shift": 8.0}, WAN22_FILES,
         ("model", "model_low", "vae", "clip"), seed=3, mode="independent"),
    Case("lightning-loras-reference", {**LIGHTNING, "kind": "wan22-vace", "colour_match": "first_keyframe"},
         WAN22_FILES, ("model", "model_low", "vae", "clip", "reference"), reference=True, seed=21,
         seed_policy="fixed"),
    Case("flf-clip-vision", {"kind": "wan-flf", "steps": 5, "shift": 2.0},
         {**WAN_FILES, "clip_vision": "cv.safetensors"},
         ("model", "vae", "clip", "clip_vision"), seed=8),
    Case("template", {"kind": "template"}, seed=30, prompts=("one",)),
    Case("loop-preview", {"kind": "preview"}, seed=1, keyframes=3, loop=True, prompts=("one", "two", "three")),
]


def files_setup(tmp_path, case: Case):
    tmp_path.mkdir(parents=True, exist_ok=True)
    keys = []
    for i in range(case.keyframes):
        (tmp_path / f"k{i}.png").write_bytes(b"png")
        keys.append(str(tmp_path / f"k{i}.png"))
    template = None
    settings = dict(case.settings or {"kind": "preview"})
    if settings["kind"] == "template":
        path = tmp_path / "template.json"
        path.write_text(json.dumps(template_graph()))
        settings["template"] = str(path)
        template = load_template(path)
    refs = {}
    if case.reference:
        (tmp_path / "ref.png").write_bytes(b"png")
        refs = {"reference_image": str(tmp_path / "ref.png")}
    return keys, settings, refs, template


KEY_NAMES = [f"segue/r1/key_{i:03d}.png [input]" for i in range(8)]
REF_NAME = "segue/r1/ref_000.png [input]"


def orchestrator_run(tmp_path, case: Case):
    keys, settings, refs, template = files_setup(tmp_path, case)
    gen = GeneratorConfig.from_dict({**settings, **case.files, **refs})
    frames = parse.int_list(case.segment_frames, "f")
    overlap = parse.int_list(case.overlap, "o")
    run = TravelRun(images=keys, segment_frames=frames[0] if len(frames) == 1 else frames,
                    overlap=overlap[0] if len(overlap) == 1 else overlap, mode=case.mode,
                    exact_keyframes=case.exact_keyframes, loop=case.loop, prompts=list(case.prompts),
                    negative_prompts=case.negative, seed=case.seed, strength=case.strength,
                    desaturate=case.desaturate, darken=case.darken, curve=case.curve, sharpen=case.sharpen,
                    crf=case.crf, preset=case.preset, generator=gen, run_id="r1",
                    **({"seed_mode": case.seed_policy} if case.seed_policy else {}))
    plan = run.validate()
    inputs = KEY_NAMES[:case.keyframes] + ([REF_NAME] if refs else [])
    return run, plan, inputs, template, (settings if case.settings is not None else None)


# --- canonical chains ---------------------------------------------------------------------------------

# Inputs that legitimately differ between the paths: where a step's file goes, the final's name.
FILE_INPUTS = {("SegueSaveStep", "filename"), ("SegueSaveStep", "folder"), ("SeguePreviewStep", "filename"),
               ("SeguePreviewStep", "folder"), ("SegueStitchFiles", "filename"),
               ("SegueStitchFiles", "filename_prefix"), ("SegueJoinAssembleFiles", "filename"),
               ("SegueJoinAssembleFiles", "filename_prefix")}
SEGMENT_PREFIX = re.compile(r"^seg_(\d{3})\.")
SAVERS = ("SegueSaveStep", "SeguePreviewStep")


def orchestrator_role(prompt: dict, files: dict, link: list) -> str | None:
    """What a link to one of the orchestrator's own loaders stands for (None: a chain node, or a
    node of the user's template, loaders included)."""
    if re.match(r"^(seg_\d{3}\.)?tpl\.", link[0]):
        return None
    node = prompt[link[0]]
    cls, i = node["class_type"], node["inputs"]
    if cls == "UNETLoader":
        assert i["weight_dtype"] == files.get("weight_dtype", "default")
        return {files.get("unet"): "<model>", files.get("unet_low"): "<model_low>"}[i["unet_name"]]
    if cls == "VAELoader":
        assert i["vae_name"] == files["vae"]
        return "<vae>"
    if cls == "CLIPLoader":
        assert (i["clip_name"], i["type"]) == (files["clip"], "wan")
        return "<clip>"
    if cls == "CLIPVisionLoader":
        assert i["clip_name"] == files["clip_vision"]
        return "<clip_vision>"
    if cls == "SegueLoadImages":
        role = {"keyframes": "<keyframes>", "reference image": "<reference>"}[node["_meta"]["title"]]
        assert link[1] == 0
        return role
    if cls == "SegueLoadVideo":
        match = re.fullmatch(r"segue/r1/seg_(\d{3})\.mkv \[output\]", i["video"])
        assert match and link[1] == 3, f"a previous segment must be read as the file's VIDEO output: {node}"
        return f"<video of segment {int(match.group(1))}>"
    return None


def node_role(prompt: dict, link: list, segment: int | None) -> str | None:
    """What a link leaving the expansion stands for: the user's loaders, or (per segment) another
    segment's saved VIDEO."""
    if link[0] not in prompt:
        name = next(k for k, v in {**USER, "keyframes": ["user_keys", 0]}.items() if v == link)
        return f"<{name}>"
    match = SEGMENT_PREFIX.match(link[0])
    if segment is not None and match and int(match.group(1)) != segment:
        assert prompt[link[0]]["class_type"] in SAVERS and link[1] == 0, f"{link} is not a saved segment's VIDEO"
        return f"<video of segment {int(match.group(1))}>"
    return None


def canonical(prompt: dict, root: str, role, transform: dict | None = None) -> list[tuple]:
    """The chain ending at ``root`` with nodes renamed by discovery order: (name, class, inputs)
    rows, links as (name, output), loaders and other segments as roles, file names dropped;
    ``transform`` (class -> function of the inputs) rewrites what two paths say differently."""
    names: dict[str, str] = {}
    rows: list[tuple] = []

    def visit(node_id: str) -> str:
        if node_id in names:
            return names[node_id]
        names[node_id] = f"n{len(names)}"
        node = prompt[node_id]
        inputs = {}
        for key in sorted(node["inputs"]):
            value = node["inputs"][key]
            if (node["class_type"], key) in FILE_INPUTS:
                continue
            if is_link(value):
                value = role(value) or (visit(str(value[0])), value[1])
            inputs[key] = value
        if transform and node["class_type"] in transform:
            inputs = transform[node["class_type"]](inputs)
        rows.append((names[node_id], node["class_type"], inputs))
        return names[node_id]

    visit(root)
    return sorted(rows)


def segment_chains(tmp_path, case: Case) -> dict:
    """Both ways built: per segment (expansion chain, per-step prompt chain, detached chain), and
    the graphs themselves."""
    run, plan, inputs, template, settings = orchestrator_run(tmp_path, case)
    expansion = node_expansion(case, settings, template)
    detached = detached_prompt(run, plan, inputs)
    files = run.generator.to_dict()
    steps = travel_steps(plan)
    chains = {}
    for step in steps[:-1]:
        i = step.index
        prompt = step_prompt(run, plan, step, inputs, template)
        assert prompt["save"]["inputs"]["filename"] == f"segue/r1/{step.stem}"
        chains[i] = (canonical(expansion, f"seg_{i:03d}.save", lambda link: node_role(expansion, link, i)),
                     canonical(prompt, "save", lambda link: orchestrator_role(prompt, files, link)),
                     canonical(detached, f"seg_{i:03d}.save",
                               lambda link: orchestrator_role(detached, files, link) or node_role(detached, link, i)))
    final = step_prompt(run, plan, steps[-1], inputs, template)
    return {"chains": chains, "expansion": expansion, "detached": detached, "files": files, "final": final,
            "steps": steps}


def assert_same_chains(tmp_path, case: Case) -> dict:
    built = segment_chains(tmp_path, case)
    for i, (node, stepped, whole) in built["chains"].items():
        assert stepped == node, f"{case.name}: segment {i}: the orchestrator's step prompt differs from SegueTravel's"
        assert whole == node, f"{case.name}: segment {i}: the detached prompt differs from SegueTravel's"
    # The whole run, file list and stitch included (sharing of loaders, LoRAs and patches too).
    expansion, detached, files = built["expansion"], built["detached"], built["files"]
    node_all = canonical(expansion, "stitch", lambda link: node_role(expansion, link, None))
    detached_all = canonical(detached, "stitch", lambda link: orchestrator_role(detached, files, link)
                             or node_role(detached, link, None))
    assert detached_all == node_all, f"{case.name}: the detached prompt differs from SegueTravel's expansion"
    # The per-step final stitches the named files with the expansion's settings.
    drop = {"segment_files", "filename", "filename_prefix"}
    stitched = built["final"]["stitch"]["inputs"]
    assert {k: v for k, v in stitched.items() if k not in drop} == \
           {k: v for k, v in expansion["stitch"]["inputs"].items() if k not in drop}, \
           f"{case.name}: the orchestrator's final stitch differs from SegueTravel's"
    assert stitched["segment_files"].splitlines() == [f"segue/r1/{s.file} [output]" for s in built["steps"][:-1]]
    return built["chains"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_nodes_and_orchestrator_build_the_same_chains(tmp_path, case):
    chains = assert_same_chains(tmp_path, case)
    assert len(chains) == (case.keyframes if case.loop else case.keyframes - 1)


def test_the_comparison_sees_the_recipe(tmp_path):
    """The canonical chains hold what matters: samplers, their settings and the LoRA / shift chain."""
    case = next(c for c in CASES if c.name == "lightning-loras-reference")
    chains = segment_chains(tmp_path, case)["chains"]
    node, _, _ = chains[0]
    classes = [row[1] for row in node]
    assert classes.count("KSamplerAdvanced") == 3 and classes.count("ModelSamplingSD3") == 3
    # style and seg0 on each expert, Lightning on phase 1's and phase 2's: phase 1 reuses phase 0's two
    assert classes.count("LoraLoaderModelOnly") == 6
    encode = next(row for row in node if row[1] == "SegueVaceEncode")
    assert encode[2]["reference_image"] == "<reference>"
    assert {row[2]["noise_seed"] for row in node if row[1] == "KSamplerAdvanced"} == {21}
    assert any(row[2].get("model") == "<model_low>" for row in node)
    step = next(row for row in node if row[1] == "SegueTravelStep")
    assert step[2]["keyframes"] == "<keyframes>" and "previous_video" not in step[2]
    step1 = next(row for row in chains[1][0] if row[1] == "SegueTravelStep")
    assert step1[2]["previous_video"] == "<video of segment 0>"


# --- joins: SegueJoinClips' expansion and the orchestrator's join prompts ----------------------------

CLIP_FRAMES = [40, 30, 44]
CLIP_SIZE = (64, 48)            # the clips' size (the orchestrator's SegueJoinStep reads it off clip 1)
CLIP_FPS = 16.0


def node_join_expansion(settings: dict | None, seed: int, connected: tuple, w: dict) -> dict:
    """SegueJoinClips.execute's graph (nodes/join_nodes.py) for three clips already at the join's
    size and rate (so they are used in place)."""
    joins = len(CLIP_FRAMES) - 1
    if settings is None:
        recipe, src = Recipe(), Sources()
    else:
        recipe = node_recipe(node_widgets(settings, seed, None))
        src = Sources(**{name: USER[name] for name in connected})
        if recipe.kind in ("wan-vace", "wan-flf"):
            recipe.validate("recipe", has_low=src.model_low is not None)
    recipe.check_items(joins, "joins")
    texts = Texts(tuple(parse.per_segment_text(w["prompt"], joins, "prompt")), (w["negative_prompt"],) * joins)
    g = Graph()
    # the widgets as SegueJoinClips passes them: output size and rate 0 = the first clip's
    step = JoinStepSettings(int(w["context"]), int(w["gap"]), bool(w["replace"]), int(w["blend"]), w["per_join"],
                            bool(w["bridging"]), 0, 0, "crop", False, 0.0, 0, 0, 16.0, "blend", "crossfade")
    join_graph(g, step, joins, recipe, src, texts, [f"segue/clips/c{k} [temp]" for k in range(3)],
               [SaveTo("", "temp")] * joins, EncodeSettings("cosine", 0.0, 19, "medium", filename_prefix="segue/join"),
               True)
    return g.nodes


def join_planned(inputs: dict) -> dict:
    """A SegueJoinStep's / SegueJoinAssembleFiles' planner inputs replaced by the plan they make
    (each path spells the same join differently: the user's widgets, or the plan's values)."""
    plan = plan_join(CLIP_FRAMES, context=inputs["context"], gap=inputs["gap"], replace=inputs["replace"],
                     blend=None if inputs["blend"] < 0 else inputs["blend"],
                     per_join=parse.per_join_overrides(inputs["per_join"]), loop=inputs.get("loop", False))
    out = {k: v for k, v in inputs.items() if k not in ("context", "gap", "replace", "blend", "per_join")}
    out["plan"] = [dataclasses.asdict(j) for j in plan.joins] + [dataclasses.asdict(c) for c in plan.clips]
    out["clip_files"] = len(inputs["clip_files"].splitlines())
    if "width" in out:      # 0 = the first clip's size, snapped
        out["width"], out["height"] = (out["width"], out["height"]) if out["width"] else wan_size(*CLIP_SIZE)
    if "fps" in out:        # 0 = the first clip's rate
        out["fps"] = out["fps"] or CLIP_FPS
    return out


JOIN_TRANSFORM = {"SegueJoinStep": join_planned, "SegueJoinAssembleFiles": join_planned}
JOIN_CASES = {
    "preview": (None, (), 0),
    "wan22-split": ({"kind": "wan22-vace", "steps": 6}, ("model", "model_low", "vae", "clip"), 6),
    "lightning": ({**LIGHTNING, "kind": "wan22-vace"}, ("model", "model_low", "vae", "clip"), 9),
}


@pytest.mark.parametrize("name", list(JOIN_CASES))
def test_join_nodes_and_orchestrator_build_the_same_chains(tmp_path, name):
    settings, connected, seed = JOIN_CASES[name]
    widgets = {"context": 6, "gap": 9, "replace": True, "blend": -1, "per_join": '[{}, {"gap": 13}]',
               "bridging": True, "prompt": "first\nsmooth", "negative_prompt": "blurry"}
    expansion = node_join_expansion(settings, seed, connected, widgets)
    files = {"unet": "high.safetensors", "unet_low": "low.safetensors", "vae": "v.safetensors", "clip": "c.safetensors"}
    gen = GeneratorConfig.from_dict({**(settings or {"kind": "preview"}), **(files if settings else {})})
    run = JoinRun(clips=[ClipRef(f"/x/c{k}.mp4") for k in range(3)], context=6, gap=9, replace=True,
                  per_join=[{"prompt": "first"}, {"gap": 13}], bridging=True, prompt="smooth",
                  negative_prompt="blurry", seed=seed, clip_frames=CLIP_FRAMES, generator=gen, run_id="j1")
    plan = run.plan()
    clips = [f"segue/j1/clip_{k:03d}.mp4 [input]" for k in range(3)]
    detached = detached_prompt(run, plan, clips)
    config = gen.to_dict()
    for j in range(len(plan.joins)):
        step = join_steps(plan)[j]
        prompt = step_prompt(run, plan, step, clips)
        node = canonical(expansion, f"join_{j:03d}.save", lambda link: node_role(expansion, link, None),
                         JOIN_TRANSFORM)
        stepped = canonical(prompt, "save", lambda link: orchestrator_role(prompt, config, link), JOIN_TRANSFORM)
        whole = canonical(detached, f"join_{j:03d}.save", lambda link: orchestrator_role(detached, config, link),
                          JOIN_TRANSFORM)
        assert stepped == node, f"join {j}: the orchestrator's step prompt differs from SegueJoinClips'"
        assert whole == node, f"join {j}: the detached prompt differs from SegueJoinClips'"
    node_all = canonical(expansion, "assemble", lambda link: node_role(expansion, link, None), JOIN_TRANSFORM)
    detached_all = canonical(detached, "assemble", lambda link: orchestrator_role(detached, config, link),
                             JOIN_TRANSFORM)
    assert detached_all == node_all
    final = canonical(step_prompt(run, plan, join_steps(plan)[-1], clips), "assemble", lambda link: None,
                      JOIN_TRANSFORM)
    (_, _, assembled), = final
    assert {k: v for k, v in assembled.items() if k != "transition_files"} == \
           {k: v for k, v in node_all[0][2].items() if k != "transition_files"}


# =====================================================================================================
# Part 3: the comparison fails when one side builds differently
# =====================================================================================================

def wrap_recipe(monkeypatch, change):
    original = orchestrator_graphs._recipe
    monkeypatch.setattr(orchestrator_graphs, "_recipe", lambda run: change(original(run)))


BREAKS = {
    # the orchestrator applies the shift differently: 0 skips ModelSamplingSD3, another value patches differently
    "orchestrator-shift-off": ("wan22-split", lambda mp: wrap_recipe(mp, lambda r: dataclasses.replace(r, shift=0.0))),
    "orchestrator-shift-value": ("wan21-single", lambda mp: wrap_recipe(
        mp, lambda r: dataclasses.replace(r, shift=r.shift + 1))),
    # the orchestrator's per-step seeds follow another policy
    "orchestrator-seed-policy": ("wan21-defaults", lambda mp: mp.setattr(
        run_common, "item_seeds", lambda seed, count, policy="increment": [seed] * count)),
    # the orchestrator's recipe gets another default seed policy
    "orchestrator-seed-default": ("wan21-defaults", lambda mp: wrap_recipe(
        mp, lambda r: dataclasses.replace(r, seed_policy="fixed"))),
    # the two-expert split comes out elsewhere
    "orchestrator-split": ("wan22-split", lambda mp: wrap_recipe(mp, lambda r: dataclasses.replace(r, split_step=2))),
    # the orchestrator's loaders swap the experts (phase LoRAs land on the wrong model)
    "orchestrator-experts-swapped": ("lightning-loras-reference", lambda mp: mp.setattr(
        orchestrator_graphs, "file_sources", swapped_experts(orchestrator_graphs.file_sources))),
    # the orchestrator forgets the run-level LoRAs
    "orchestrator-no-run-loras": ("lightning-loras-reference", lambda mp: wrap_recipe(
        mp, lambda r: dataclasses.replace(r, loras=()))),
    # the node's default seed policy or shift changes, the orchestrator's does not
    "node-seed-default": ("wan21-defaults", lambda mp: mp.setitem(NODE_RECIPE_DEFAULTS, "seed_policy", "fixed")),
    "node-shift-default": ("wan21-defaults", lambda mp: mp.setitem(NODE_RECIPE_DEFAULTS, "shift", 3.0)),
    "node-cfg-default": ("wan22-split", lambda mp: mp.setitem(NODE_RECIPE_DEFAULTS, "cfg", 4.0)),
}
CASES_BY_NAME = {c.name: c for c in CASES}


def swapped_experts(file_sources):
    def swapped(g, files, recipe, reference=None, template=None):
        return file_sources(g, dataclasses.replace(files, unet=files.unet_low, unet_low=files.unet), recipe,
                            reference, template)
    return swapped


@pytest.mark.parametrize("name", list(BREAKS))
def test_the_comparison_fails_when_one_side_builds_differently(tmp_path, monkeypatch, name):
    case_name, break_it = BREAKS[name]
    case = CASES_BY_NAME[case_name]
    assert_same_chains(tmp_path / "before", case)           # intact: equal
    with monkeypatch.context() as mp:
        break_it(mp)
        with pytest.raises(AssertionError, match="differs"):
            assert_same_chains(tmp_path / "after", case)


# --- known divergences between the node's and the orchestrator's defaults ---------------------------

def test_default_split_step_is_the_same_on_both_paths(tmp_path):
    case = Case("wan22-default-split", {"kind": "wan22-vace", "steps": 6}, WAN22_FILES,
                ("model", "model_low", "vae", "clip"))
    assert_same_chains(tmp_path, case)
