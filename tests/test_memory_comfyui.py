"""A one-prompt travel's memory does not grow with its length (issue 10), in a real ComfyUI.

ComfyUI keeps every node output of a prompt until the prompt ends, so a design that passed
full-size frame batches between nodes grew by ~470 MB per 832x480 segment.  Segue's expansion
keeps guides inside the encoders and frames in files: 11 segments must peak within 1.3x of 2
segments, and under +1.5 GB over the server's memory before the prompt.  Memory only, no timing.
"""

from __future__ import annotations

import pytest

from comfyui_harness import ComfyServer
from memory_probe import join_prompt, measure, travel_prompt, write_clips, write_keyframes

pytestmark = pytest.mark.comfyui


@pytest.fixture(scope="module")
def fresh_server(comfyui_available, tmp_path_factory):
    server = ComfyServer(tmp_path_factory.mktemp("comfy_memory")).start()
    yield server
    server.stop()


def test_eleven_segments_peak_like_two(fresh_server):
    names = write_keyframes(fresh_server.input_dir / "mem", 12, 832, 480)
    fresh_server.run(travel_prompt(names[:2], 8, 2, tag="warm"))   # load every library first
    two, entry_two = measure(fresh_server, travel_prompt(names[:3], tag="two"))
    eleven, entry_eleven = measure(fresh_server, travel_prompt(names, tag="eleven"))
    saves = [k for k in entry_eleven["outputs"] if k.endswith(".save")]
    assert len(saves) == 11 and len([k for k in entry_two["outputs"] if k.endswith(".save")]) == 2
    assert eleven <= 1.3 * two, f"11 segments peaked at +{eleven / 2**20:.0f} MiB, 2 at +{two / 2**20:.0f} MiB"
    assert eleven < 1.5 * 2**30, f"11 segments peaked at +{eleven / 2**20:.0f} MiB over the server's memory before"


def test_ten_clip_join_peaks_like_a_three_clip_join(fresh_server):
    names = write_clips(fresh_server.input_dir / "memclips", 10, 832, 480, 40)
    fresh_server.run(join_prompt(names[:2], 4, 5, tag="warmjoin"))
    three, _ = measure(fresh_server, join_prompt(names[:3], tag="three"))
    ten, entry = measure(fresh_server, join_prompt(names, tag="ten"))
    assert len([k for k in entry["outputs"] if k.endswith(".save")]) == 9
    assert ten <= 1.3 * three, f"10 clips peaked at +{ten / 2**20:.0f} MiB, 3 at +{three / 2**20:.0f} MiB"
    assert ten < 1.5 * 2**30, f"10 clips peaked at +{ten / 2**20:.0f} MiB over the server's memory before"
