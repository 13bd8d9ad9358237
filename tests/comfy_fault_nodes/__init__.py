"""Test-only ComfyUI nodes for the orchestrator's fault tests: loaded by the integration harness,
never by users.  Each is steered by marker files in a ``control`` folder the test owns, so a test
can make a real server hold, fail or run out of memory exactly when it wants.

``SegueTestFault`` passes IMAGEs through (put it between a generator and the frames slot of a
template): while ``<control>/hold`` exists it waits (honouring Cancel / ``/interrupt``); a file
``fail_<index>`` makes it raise once (a message with a server path), ``oom_<index>`` raise
``torch.OutOfMemoryError`` once.  ``running_<index>`` is written when it starts.
``SegueTestHold`` is a prompt of its own (someone else's work): it waits while
``<control>/hold_<name>`` exists.
"""

import os
import time

import comfy.model_management
import torch


def _wait(path: str) -> None:
    while os.path.exists(path):
        comfy.model_management.throw_exception_if_processing_interrupted()
        time.sleep(0.05)


class SegueTestFault:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "control": ("STRING", {"default": ""}),
                             "index": ("INT", {"default": 0, "min": 0, "max": 10000})}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "testing/segue"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")             # always runs: a resubmitted step must reach the markers again

    def run(self, images, control, index):
        open(os.path.join(control, f"running_{index}"), "w").close()
        _wait(os.path.join(control, "hold"))
        for kind in ("fail", "oom"):
            marker = os.path.join(control, f"{kind}_{index}")
            if os.path.exists(marker):
                os.remove(marker)
                if kind == "oom":
                    raise torch.OutOfMemoryError("Allocation on device")
                raise ValueError(f"cannot open {os.path.join(os.path.abspath(control), 'missing.png')}")
        return (images,)


class SegueTestHold:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"control": ("STRING", {"default": ""}), "name": ("STRING", {"default": "x"})}}

    RETURN_TYPES = ()
    OUTPUT_NODE = True
    FUNCTION = "run"
    CATEGORY = "testing/segue"

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    def run(self, control, name):
        _wait(os.path.join(control, f"hold_{name}"))
        return {}


NODE_CLASS_MAPPINGS = {"SegueTestFault": SegueTestFault, "SegueTestHold": SegueTestHold}
