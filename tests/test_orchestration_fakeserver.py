"""The fake ComfyUI (tests/fake_comfy.py) against itself and against the real server.

The fake serves ``tests/node_contract.json`` as its ``/object_info`` in every runner test: a
snapshot of the oldest supported ComfyUI's (0.3.64) schemas for exactly the classes the
orchestrator's graphs use, which is compared with every live server tested here (newer core
classes may offer more combo choices; ``SEGUE_REFRESH_NODE_CONTRACT=1`` rewrites it from the server
under test), so it cannot drift from the real nodes.  The fake's queue, websocket and faults are checked to behave
like ComfyUI's.
"""

import json
import os
import time
import urllib.request

import pytest
import websocket

from fake_comfy import (CONTRACT_PATH, FakeComfy, contract_entry, count_frames, load_contract,  # noqa: F401
                        object_info, write_video)

from segue.orchestration.server.client import ComfyClient
from segue.orchestration.runs.prompts import all_step_prompts, detached_prompt
from segue.orchestration.runs.models import ClipRef, ExtendRun, GeneratorConfig, JoinRun, TravelRun

TEMPLATE = {"1": {"class_type": "SegueGuideSlot", "inputs": {}},
            "2": {"class_type": "SeguePreviewGenerator",
                  "inputs": {"control_video": ["1", 0], "control_masks": ["1", 1], "method": "flow"}},
            "3": {"class_type": "SegueFramesSlot", "inputs": {"images": ["2", 0]}}}


def contract_classes(tmp_path) -> list[str]:
    """Every class the orchestrator's prompts use, for every generator, travel, join and extend, per step
    and whole-run (so a class the graphs start using is caught here), plus the template slots."""
    (tmp_path / "tpl.json").write_text(json.dumps(TEMPLATE))
    files = dict(unet="u", vae="v", clip="c")
    generators = [GeneratorConfig(), GeneratorConfig.from_name("wan21-vace", **files),
                  GeneratorConfig.from_name("wan22-vace", unet_low="l", **files),
                  GeneratorConfig.from_name("wan-flf", **files), GeneratorConfig.from_name(str(tmp_path / "tpl.json"))]
    classes = {n["class_type"] for n in TEMPLATE.values()}
    for gen in generators:
        for mode in ("chained", "independent"):
            run = TravelRun(images=["a.png", "b.png", "c.png"], segment_frames=14, overlap=4, mode=mode,
                            run_id="v", generator=gen)
            names = [f"segue/v/k{i}.png [input]" for i in range(3)]
            for p in [*all_step_prompts(run, run.plan(), names).values(), detached_prompt(run, run.plan(), names)]:
                classes |= {n["class_type"] for n in p.values()}
        join = JoinRun(clips=[ClipRef(f"/c{i}.mp4") for i in range(3)], clip_frames=[30, 30, 30], context=4, gap=9,
                       run_id="v", generator=gen)
        names = [f"segue/v/c{i}.mp4 [input]" for i in range(3)]
        for p in [*all_step_prompts(join, join.plan(), names).values(), detached_prompt(join, join.plan(), names)]:
            classes |= {n["class_type"] for n in p.values()}
        for keyframes in ([], ["k.png"]):
            extend = ExtendRun(clip=ClipRef("/c.mp4"), clip_frames=30, frames=100, overlap=4, keyframes=keyframes,
                               run_id="v", generator=gen)
            names = ["segue/v/c.mp4 [input]"] + [f"segue/v/k{i}.png [input]" for i in range(len(keyframes))]
            for p in [*all_step_prompts(extend, extend.plan(), names).values(),
                      detached_prompt(extend, extend.plan(), names)]:
                classes |= {n["class_type"] for n in p.values()}
    return sorted(classes)


def combo_options(spec: list) -> list | None:
    """The choices of a combo input spec (old list form or V3 ``COMBO`` form), else None."""
    kind, opts = spec
    if isinstance(kind, list):
        return kind
    return opts.get("options") if kind == "COMBO" else None


def newer_core_choices(snapshot: dict, live: dict, cls: str) -> dict:
    """``live`` with the combo choices of a core class narrowed to the snapshot's where the live
    server offers all of them and more: newer ComfyUI releases add samplers and text-encoder
    types (0.27: ``exp_heun_2_x0``, ``flux2`` ...), and a fake that offers fewer choices than the
    real server never accepts a value the real one refuses. Segue's own classes must match exactly."""
    if cls.startswith("Segue"):
        return live
    narrowed = json.loads(json.dumps(live))
    for part, inputs in narrowed["input"].items():
        for name, spec in inputs.items():
            old = snapshot["input"].get(part, {}).get(name)
            ours, theirs = (combo_options(old) if old else None), combo_options(spec)
            if ours is not None and theirs is not None and set(ours) < set(theirs):
                inputs[name] = old
    return narrowed


def contract_mismatches(real: dict, contract: dict, classes: list[str]) -> list[str]:
    """Where the fake's snapshot differs from a real server's schemas, one line per class."""
    problems = []
    for cls in classes:
        if cls not in real:
            problems.append(f"{cls}: not on the real server")
        elif cls not in contract:
            problems.append(f"{cls}: missing from {CONTRACT_PATH.name}")
        elif contract[cls] != newer_core_choices(contract[cls], contract_entry(real[cls], cls), cls):
            problems.append(f"{cls}: {CONTRACT_PATH.name} differs from the server's schema")
    return problems + [f"{cls}: in {CONTRACT_PATH.name} but no graph uses it" for cls in sorted(set(contract) - set(classes))]


@pytest.mark.comfyui
def test_the_fake_node_table_is_the_real_servers_schemas(comfy_server, tmp_path):
    real = ComfyClient(comfy_server.url).object_info()
    classes = contract_classes(tmp_path)
    if os.environ.get("SEGUE_REFRESH_NODE_CONTRACT"):
        CONTRACT_PATH.write_text(json.dumps({c: contract_entry(real[c], c) for c in classes}, indent=1,
                                            sort_keys=True) + "\n")
        pytest.skip(f"rewrote {CONTRACT_PATH}: review and commit it")
    contract = load_contract()
    assert contract_mismatches(real, contract, classes) == [], \
        "the fake's node schemas are stale: rerun this test with SEGUE_REFRESH_NODE_CONTRACT=1"
    # and the check can fail: a renamed input, a changed output, a class no graph uses
    broken = json.loads(json.dumps(contract))
    broken["SegueSaveStep"]["input"]["required"]["file_name"] = broken["SegueSaveStep"]["input"]["required"].pop("filename")
    broken["SegueLoadVideo"]["output"] = ["IMAGE"]
    broken["SegueOld"] = {}
    broken["KSampler"]["input"]["required"]["sampler_name"][0].append("euler_imaginary")   # a choice core lacks
    assert len(contract_mismatches(real, broken, classes)) == 4


def test_the_contract_covers_every_class_the_graphs_use(tmp_path):
    """Without a server: a class the graphs start using must be added to the snapshot."""
    assert sorted(load_contract()) == contract_classes(tmp_path)


def test_fake_server_writes_videos_with_planned_frame_counts(tmp_path):
    write_video(tmp_path / "a.mkv", 9)
    write_video(tmp_path / "b.mp4", 13)
    assert count_frames(tmp_path / "a.mkv") == 9
    assert count_frames(tmp_path / "b.mp4") == 13


def test_foreign_prompts_are_real_queue_entries_that_run_in_turn(tmp_path):
    fake = FakeComfy(tmp_path, delay=0.01).start()
    try:
        fake.paused.set()
        fake.add_foreign("theirs-1")
        fake.add_foreign("theirs-2")
        client = ComfyClient(fake.url)
        assert client.queue() == ([], ["theirs-1", "theirs-2"]) and client.queue_remaining() == 2
        client.post_json("/queue", {"clear": True})          # what a careless client would do
        assert client.queue() == ([], [])
        fake.add_foreign("theirs-3")
        fake.paused.clear()
        deadline = time.monotonic() + 10
        while client.history("theirs-3") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.prompt_status("theirs-3")[0] == "success"
    finally:
        fake.stop()


def test_fake_websocket_speaks_comfyuis_messages_to_the_prompts_client(tmp_path):
    fake = FakeComfy(tmp_path, delay=0.02).start()
    try:
        mine = websocket.create_connection(f"ws://127.0.0.1:{fake.port}/ws?clientId=me", timeout=5)
        other = websocket.create_connection(f"ws://127.0.0.1:{fake.port}/ws?clientId=other", timeout=5)
        assert json.loads(mine.recv())["type"] == "status"
        assert json.loads(other.recv())["type"] == "status"
        body = json.dumps({"prompt": {"1": {"class_type": "SegueFileList", "inputs": {}}}, "prompt_id": "p1",
                           "client_id": "me"}).encode()
        urllib.request.urlopen(urllib.request.Request(fake.url + "/prompt", data=body), timeout=5).read()
        kinds = []
        while not kinds or kinds[-1] != ("executing", None):
            m = json.loads(mine.recv())
            kinds.append((m["type"], m["data"].get("node")) if m["type"] == "executing" else (m["type"], "-"))
        names = [k for k, _ in kinds]
        assert names.index("execution_start") < names.index("progress") < names.index("execution_success")
        other.settimeout(0.3)
        seen = []
        try:
            while True:
                seen.append(json.loads(other.recv())["type"])
        except websocket.WebSocketTimeoutException:
            pass
        assert set(seen) <= {"status"}                 # only broadcasts reach other clients
        mine.close()
        other.close()
    finally:
        fake.stop()
