"""What ComfyUI's cache does for Segue's one-node runs, measured on each version (README, *Memory*).

Every generated segment is written to a new file under ``temp/segue/steps/`` when its step runs,
so counting those files says which segments a prompt (re)generated.

* With room to cache (this machine, both versions' default cache: 0.3.64's classic one, 0.27's
  RAM-pressure one), running a travel again with only its output name changed generates nothing
  again: every unchanged step comes from the cache.
* With no room (0.27: ``--cache-ram`` with a headroom no machine has, so outputs are dropped even
  within the prompt; 0.3.64 has no RAM-pressure cache: ``--cache-lru 1``, since its
  ``--cache-none`` breaks every node expansion), the same travel run again is regenerated in full,
  and the video is the same, byte for byte.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import pytest

from comfyui_harness import ComfyServer
from test_video_io import coded_frames

pytestmark = pytest.mark.comfyui


def keyframes(server, folder: str) -> str:
    target = server.input_dir / folder
    target.mkdir(exist_ok=True)
    for i, frame in enumerate(coded_frames(4, 64, 64, seed=6)):
        cv2.imwrite(str(target / f"k{i}.png"), frame[..., ::-1])
    return "\n".join(f"{folder}/k{i}.png" for i in range(4))


def travel(names: str, prompts: str, prefix: str) -> dict:
    return {"keys": {"class_type": "SegueLoadImages", "inputs": {"images": names, "width": 0, "height": 0,
                                                                 "fit": "crop"}},
            "travel": {"class_type": "SegueTravel", "inputs": {
                "keyframes": ["keys", 0], "prompts": prompts, "negative_prompt": "", "segment_frames": "12",
                "overlap": "4", "mode": "chained", "exact_keyframes": False, "curve": "cosine", "sharpen": 0.0,
                "filename_prefix": prefix, "keep_segments": False, "crf": 12, "preset": "ultrafast",
                "output_images": False}}}


def segment_files(server) -> set[Path]:
    return set((server.base / "temp" / "segue" / "steps").glob("*.mkv"))


def final_video(server, entry) -> Path:
    for node_id, ui in entry["outputs"].items():
        if node_id.endswith(".stitch"):
            [item] = ui["segue_files"]
            return server.output_dir / item["subfolder"] / item["filename"]
    raise AssertionError(f"no stitched video in {list(entry['outputs'])}")


def test_with_room_to_cache_a_rerun_reuses_every_unchanged_segment(comfy_server):
    """Only the delivered file's name changed: no segment is generated again (the stitch runs)."""
    names = keyframes(comfy_server, "cache_keys")
    earlier = segment_files(comfy_server)                       # the shared server's other tests' files
    first = comfy_server.run(travel(names, "a road\na bridge\na tower", "cache/first"), timeout=300)
    before = segment_files(comfy_server)
    assert len(before - earlier) == 3
    second = comfy_server.run(travel(names, "a road\na bridge\na tower", "cache/second"), timeout=300)
    assert segment_files(comfy_server) == before                 # all three came from the cache
    assert final_video(comfy_server, first).read_bytes() == final_video(comfy_server, second).read_bytes()


@pytest.fixture(scope="module")
def no_room_server(comfyui_available, tmp_path_factory):
    root = comfyui_available[0]
    ram_cache = "--cache-ram" in (root / "comfy" / "cli_args.py").read_text()
    # 0.27: keep 100,000 GB free, so every output is dropped; 0.3.64: keep one node's outputs
    # (its --cache-none breaks every node expansion: KeyError in ensure_subcache_for)
    args = ("--cache-ram", "100000") if ram_cache else ("--cache-lru", "1")
    server = ComfyServer(tmp_path_factory.mktemp("cache_pressure"), extra_args=args).start()
    yield server
    server.stop()


def test_with_no_room_to_cache_everything_is_regenerated_and_the_video_is_the_same(no_room_server):
    server = no_room_server
    names = keyframes(server, "pressure_keys")
    first = server.run(travel(names, "a road\na bridge\na tower", "pressure/first"), timeout=300)
    before = segment_files(server)
    assert len(before) == 3
    second = server.run(travel(names, "a road\na bridge\na tower", "pressure/second"), timeout=300)
    assert len(segment_files(server) - before) == 3              # nothing was kept: all three again
    digest = [hashlib.sha256(final_video(server, e).read_bytes()).hexdigest() for e in (first, second)]
    assert digest[0] == digest[1]
