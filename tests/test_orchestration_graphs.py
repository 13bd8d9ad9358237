"""Plans -> API prompts: format rules, exact file names, chaining, generators, templates, validation."""

import json

import pytest

from segue.orchestration.graphs import (detached_prompt, join_per_join_json, load_template, step_prompt,
                                        validate_prompt)
from segue.orchestration.plan_files import ClipRef, GeneratorConfig, JoinRun, TravelRun
from segue.orchestration.steps import join_steps, travel_steps
from segue.video_utils.errors import PlanError
from segue.video_utils.join_plan import plan_join

from test_orchestration_fakeserver import object_info

KEYS = [f"segue/r1/key_{i:03d}.png [input]" for i in range(4)]
CLIPS = [f"segue/j1/clip_{i:03d}.mp4 [input]" for i in range(3)]
INFO = object_info()
WAN21 = GeneratorConfig(kind="wan21-vace", unet="wan_vace.safetensors", vae="wan_vae.safetensors",
                        clip="umt5.safetensors", steps=4)
WAN22 = GeneratorConfig(kind="wan22-vace", unet="high.safetensors", unet_low="low.safetensors",
                        vae="wan_vae.safetensors", clip="umt5.safetensors", steps=6, split_step=2)


def travel(tmp_path, **kw):
    paths = []
    for i in range(4):
        (tmp_path / f"k{i}.png").write_bytes(b"png")
        paths.append(str(tmp_path / f"k{i}.png"))
    run = TravelRun(images=paths, segment_frames=16, overlap=4, run_id="r1", prompts=["one", "two", "three"], **kw)
    return run, run.validate()


def join_run(**kw):
    run = JoinRun(clips=[ClipRef(f"/x/c{i}.mp4", f"c{i}") for i in range(3)], context=4, gap=9, run_id="j1",
                  clip_frames=[40, 30, 40], fps=16.0, **kw)
    return run, run.plan()


def links(prompt):
    for node_id, node in prompt.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                yield node_id, name, value


def check_format(prompt):
    """String ids, [str id, int] links to existing nodes, no None values, JSON-serialisable."""
    json.dumps(prompt)
    for node_id, node in prompt.items():
        assert isinstance(node_id, str) and set(node) <= {"class_type", "inputs", "_meta"}
        assert all(v is not None for v in node["inputs"].values())
    for node_id, name, value in links(prompt):
        assert len(value) == 2 and isinstance(value[0], str) and type(value[1]) is int, (node_id, name, value)
        assert value[0] in prompt, (node_id, name, value)
    assert validate_prompt(prompt, INFO) == []


def by_class(prompt, cls):
    return [(k, n) for k, n in prompt.items() if n["class_type"] == cls]


def test_travel_step_prompts_have_exact_names_and_chain_through_files(tmp_path):
    run, plan = travel(tmp_path)
    steps = travel_steps(plan)
    assert [s.file for s in steps] == ["seg_000.mkv", "seg_001.mkv", "seg_002.mkv", "final.mp4"]
    prompts = {s.id: step_prompt(run, plan, s, KEYS) for s in steps}
    for p in prompts.values():
        check_format(p)
    (_, save0), = by_class(prompts["seg_000"], "SegueSaveSegment")
    assert save0["inputs"]["filename"] == "segue/r1/seg_000"
    assert save0["inputs"]["expected_frames"] == plan.segments[0].generate_frames
    assert not by_class(prompts["seg_000"], "SegueLoadVideo")
    (_, load), = by_class(prompts["seg_001"], "SegueLoadVideo")
    assert load["inputs"] == {"video": "segue/r1/seg_000.mkv [output]", "start": 0, "frame_count": 0,
                              "last_frames": plan.segments[1].context_frames}
    (_, guide), = by_class(prompts["seg_001"], "SegueTravelGuide")
    assert guide["inputs"]["segment_index"] == 1 and guide["inputs"]["previous_segment"][1] == 0
    assert guide["inputs"]["exact_keyframes"] is False and guide["inputs"]["mode"] == "chained"
    (_, keys), = by_class(prompts["seg_002"], "SegueLoadImages")
    assert keys["inputs"]["images"].splitlines() == KEYS
    (_, stitch), = by_class(prompts["final"], "SegueStitchFiles")
    assert stitch["inputs"]["segment_files"].splitlines() == [f"segue/r1/seg_00{i}.mkv [output]" for i in range(3)]
    assert stitch["inputs"]["overlaps"] == "4, 4" and stitch["inputs"]["filename"] == "segue/r1/final"


def test_independent_segments_read_no_previous_file_and_lead_in_is_trimmed_at_save(tmp_path):
    run, plan = travel(tmp_path, mode="independent", exact_keyframes=True, )
    steps = travel_steps(plan)
    assert all(not s.depends_on for s in steps[:-1]) and steps[-1].depends_on == ("seg_000", "seg_001", "seg_002")
    p0 = step_prompt(run, plan, steps[0], KEYS)
    (_, save), = by_class(p0, "SegueSaveSegment")
    seg = plan.segments[0]
    assert save["inputs"]["trim_start"] == seg.trim_start
    assert save["inputs"]["expected_frames"] == seg.generate_frames - seg.trim_start == steps[0].frames
    assert not any(by_class(step_prompt(run, plan, s, KEYS), "SegueLoadVideo") for s in steps[:-1])


def test_wan21_chain_matches_the_contract(tmp_path):
    run, plan = travel(tmp_path, generator=WAN21, seed=5, seed_mode="increment")
    p = step_prompt(run, plan, travel_steps(plan)[1], KEYS)
    check_format(p)
    classes = sorted(n["class_type"] for n in p.values())
    assert classes.count("CLIPTextEncode") == 2 and "KSampler" in classes and "TrimVideoLatent" in classes
    (vid, vace), = by_class(p, "WanVaceToVideo")
    (gid, _), = by_class(p, "SegueTravelGuide")
    assert vace["inputs"]["control_video"] == [gid, 0] and vace["inputs"]["control_masks"] == [gid, 1]
    assert vace["inputs"]["length"] == [gid, 2] and vace["inputs"]["width"] == [gid, 3]
    (_, ks), = by_class(p, "KSampler")
    assert ks["inputs"]["seed"] == 6 and ks["inputs"]["latent_image"] == [vid, 2]
    (_, trim), = by_class(p, "TrimVideoLatent")
    assert trim["inputs"]["trim_amount"] == [vid, 3]
    texts = {n["inputs"]["text"] for _, n in by_class(p, "CLIPTextEncode")}
    assert "two" in texts
    (_, clip), = by_class(p, "CLIPLoader")
    assert clip["inputs"]["type"] == "wan"


def test_wan22_uses_two_experts_split_at_the_step(tmp_path):
    run, plan = travel(tmp_path, generator=WAN22)
    p = step_prompt(run, plan, travel_steps(plan)[0], KEYS)
    check_format(p)
    unets = sorted(n["inputs"]["unet_name"] for _, n in by_class(p, "UNETLoader"))
    assert unets == ["high.safetensors", "low.safetensors"]
    (hid, high), (lid, low) = sorted(by_class(p, "KSamplerAdvanced"), key=lambda kv: kv[1]["inputs"]["start_at_step"])
    assert (high["inputs"]["start_at_step"], high["inputs"]["end_at_step"]) == (0, 2)
    assert high["inputs"]["add_noise"] == "enable" and high["inputs"]["return_with_leftover_noise"] == "enable"
    assert (low["inputs"]["start_at_step"], low["inputs"]["add_noise"]) == (2, "disable")
    assert low["inputs"]["latent_image"] == [hid, 0]


def test_join_transition_reads_exactly_the_planned_windows():
    run, plan = join_run(replace=True)
    assert plan.joins[0].trim_from_a > 0
    steps = join_steps(plan)
    for j, spec in enumerate(plan.joins):
        p = step_prompt(run, plan, steps[j], CLIPS)
        check_format(p)
        loads = {n["_meta"]["title"]: n["inputs"] for _, n in by_class(p, "SegueLoadVideo")}
        a, b = loads[f"clip {j} tail"], loads[f"clip {j + 1} head"]
        assert a["video"] == CLIPS[j] and a["start"] == spec.context_a_start
        assert a["frame_count"] == spec.context_frames_a + spec.trim_from_a
        assert b["video"] == CLIPS[j + 1] and b["start"] == 0
        assert b["frame_count"] == spec.context_b_start + spec.context_frames_b
        # The guide node re-plans from the windows it gets: that must be this join.
        sub = plan_join([a["frame_count"], b["frame_count"]], spec.context_frames_a, spec.gap_frames, True).joins[0]
        assert (sub.transition_frames, sub.gap_frames, sub.context_a_start, sub.context_b_start) == \
               (spec.transition_frames, spec.gap_frames, 0, spec.trim_from_b)
        (_, guide), = by_class(p, "SegueJoinGuide")
        assert guide["inputs"]["replace"] is True and guide["inputs"]["bridging"] is False
        (_, save), = by_class(p, "SegueSaveSegment")
        assert save["inputs"]["filename"] == f"segue/j1/trans_{j:03d}"
        assert save["inputs"]["expected_frames"] == spec.transition_frames
    final = step_prompt(run, plan, steps[-1], CLIPS)
    (_, asm), = by_class(final, "SegueJoinAssembleFiles")
    assert asm["inputs"]["clip_files"].splitlines() == CLIPS
    assert asm["inputs"]["transition_files"].splitlines() == ["segue/j1/trans_000.mkv [output]",
                                                              "segue/j1/trans_001.mkv [output]"]
    per_join = json.loads(asm["inputs"]["per_join"])
    assert per_join == json.loads(join_per_join_json(plan)) and len(per_join) == 2
    assert asm["inputs"]["blend"] == plan.joins[0].blend_frames and asm["inputs"]["keep_audio"] is True


def test_detached_prompt_orders_everything_through_links(tmp_path):
    run, plan = travel(tmp_path)
    p = detached_prompt(run, plan, KEYS)
    check_format(p)
    assert len(by_class(p, "SegueLoadImages")) == 1
    (_, g1), = [kv for kv in by_class(p, "SegueTravelGuide") if kv[1]["inputs"]["segment_index"] == 1]
    assert g1["inputs"]["previous_video"] == ["s000.save", 0]
    (_, stitch), = by_class(p, "SegueStitchFiles")
    assert stitch["inputs"]["segment_files"] == ["s002.list", 0]
    # The file list chains every save, so the stitch depends on all of them.
    node, seen = p["s002.list"], []
    while True:
        seen.append(node["inputs"]["video"][0])
        if "files" not in node["inputs"]:
            break
        node = p[node["inputs"]["files"][0]]
    assert sorted(seen) == ["s000.save", "s001.save", "s002.save"]
    jrun, jplan = join_run()
    jp = detached_prompt(jrun, jplan, CLIPS)
    check_format(jp)
    (_, asm), = by_class(jp, "SegueJoinAssembleFiles")
    assert asm["inputs"]["transition_files"] == ["j001.list", 0]


def test_wan_loaders_are_shared_in_the_whole_run_graph(tmp_path):
    run, plan = travel(tmp_path, generator=WAN21)
    p = detached_prompt(run, plan, KEYS)
    check_format(p)
    assert len(by_class(p, "UNETLoader")) == 1 and len(by_class(p, "VAELoader")) == 1
    assert len(by_class(p, "KSampler")) == 3


def write_template(tmp_path, extra=None):
    template = {
        "5": {"class_type": "SegueGuideSlot", "inputs": {}},
        "6": {"class_type": "SeguePreviewGenerator", "inputs": {"control_video": ["5", 0], "control_masks": ["5", 1],
                                                                 "method": "blend"}},
        "7": {"class_type": "SegueFramesSlot", "inputs": {"images": ["6", 0]}},
        "8": {"class_type": "SegueTestRandomConditioning", "inputs": {"seed": "{{seed}}", "tokens": 8},
              "_meta": {"title": "cond for {{prompt}}"}},
        "9": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}, not {{negative_prompt}}",
                                                         "clip": ["10", 0]}},
        "10": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5.safetensors", "type": "wan"}},
    }
    template.update(extra or {})
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    return path


def test_template_is_spliced_with_prefixed_ids_and_filled_placeholders(tmp_path):
    path = write_template(tmp_path)
    run, plan = travel(tmp_path, generator=GeneratorConfig(kind="template", template=str(path)), seed=3,
                       seed_mode="increment")
    p = step_prompt(run, plan, travel_steps(plan)[2], KEYS)
    check_format(p)
    assert not by_class(p, "SegueGuideSlot") and not by_class(p, "SegueFramesSlot")
    (gid, _), = by_class(p, "SegueTravelGuide")
    assert p["tpl.6"]["inputs"]["control_video"] == [gid, 0] and p["tpl.6"]["inputs"]["control_masks"] == [gid, 1]
    (_, save), = by_class(p, "SegueSaveSegment")
    assert save["inputs"]["images"] == ["tpl.6", 0]
    assert p["tpl.8"]["inputs"]["seed"] == 5                     # exactly "{{seed}}" -> a number
    assert p["tpl.9"]["inputs"] == {"text": "three, not ", "clip": ["tpl.10", 0]}
    whole = detached_prompt(run, plan, KEYS)
    check_format(whole)
    assert {"s000.tpl.6", "s001.tpl.6", "s002.tpl.6"} <= set(whole)


@pytest.mark.parametrize("template, message", [
    ({"nodes": [], "links": []}, "UI workflow"),
    ({"1": {"class_type": "SegueFramesSlot", "inputs": {"images": ["2", 0]}},
      "2": {"class_type": "VAEDecode", "inputs": {}}}, "0 SegueGuideSlot"),
    ({"1": {"class_type": "SegueGuideSlot", "inputs": {}},
      "2": {"class_type": "SegueFramesSlot", "inputs": {"images": "x"}}}, "must be linked"),
    ([1, 2], "not an API-format prompt"),
])
def test_bad_templates_are_refused(tmp_path, template, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    with pytest.raises(PlanError, match=message):
        load_template(path)


def test_validation_reports_unknown_model_files_classes_inputs_and_links(tmp_path):
    gen = GeneratorConfig(kind="wan21-vace", unet="missing.safetensors", vae="wan_vae.safetensors",
                          clip="umt5.safetensors")
    run, plan = travel(tmp_path, generator=gen)
    p = step_prompt(run, plan, travel_steps(plan)[0], KEYS)
    errors = validate_prompt(p, INFO, "gpu1:8188")
    assert len(errors) == 1
    assert errors[0].startswith("unknown model file 'missing.safetensors' for UNETLoader.unet_name on gpu1:8188")
    assert "models/diffusion_models" in errors[0] and "--unet" in errors[0]

    info = {k: v for k, v in INFO.items() if k != "SegueTravelGuide"}
    assert any("SegueTravelGuide is not installed on" in e for e in validate_prompt(p, info))

    bad = json.loads(json.dumps(p))
    (sid, _), = by_class(bad, "SegueSaveSegment")
    bad[sid]["inputs"]["colour"] = 1
    bad[sid]["inputs"]["fps"] = "16"
    (gid, _), = by_class(bad, "SegueTravelGuide")
    bad[gid]["inputs"]["exact_keyframes"] = "false"
    bad[sid]["inputs"]["images"] = [gid, 1]                   # a MASK into an IMAGE input
    errors = "\n".join(validate_prompt(bad, INFO))
    assert "'colour' is not declared" in errors and "fps='16' must be a number" in errors
    assert "must be a JSON boolean" in errors and "expects IMAGE but output 1" in errors
