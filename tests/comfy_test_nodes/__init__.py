"""Test-only ComfyUI nodes: loaded by the integration harness, never by users.

``SegueTestRandomConditioning`` stands in for a Wan text encoder (umT5 is gigabytes), so the real
WanVaceToVideo -> KSampler -> VAEDecode chain can run with tiny random weights on a CPU.
"""

import torch


class SegueTestRandomConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1}),
                             "tokens": ("INT", {"default": 8, "min": 1, "max": 512})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "testing/segue"

    def make(self, seed, tokens):
        g = torch.Generator().manual_seed(seed)
        return ([[torch.randn(1, tokens, 4096, generator=g) * 0.1, {}]],)


NODE_CLASS_MAPPINGS = {"SegueTestRandomConditioning": SegueTestRandomConditioning}
