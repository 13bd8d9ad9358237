"""Test-only ComfyUI nodes: loaded by the integration harness, never by users.

``SegueTestRandomConditioning`` stands in for a Wan text encoder (umT5 is gigabytes), so the real
WanVaceToVideo -> KSampler -> VAEDecode chain can run with tiny random weights on a CPU.
``SegueTestTensorStats`` reports an IMAGE's / MASK's shape and value range in the history, so a
test can check what flowed between two real nodes without saving it.
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


def _stats(t: torch.Tensor) -> dict:
    t = t.float()
    return {"shape": list(t.shape), "finite": bool(torch.isfinite(t).all()),
            "min": float(t.min()), "max": float(t.max()), "mean": float(t.mean())}


class SegueTestTensorStats:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"label": ("STRING", {"default": ""})},
                "optional": {"images": ("IMAGE",), "masks": ("MASK",)}}

    RETURN_TYPES = ()
    FUNCTION = "report"
    OUTPUT_NODE = True
    CATEGORY = "testing/segue"

    def report(self, label, images=None, masks=None):
        stats = {"label": label}
        if images is not None:
            stats["images"] = _stats(images)
        if masks is not None:
            stats["masks"] = _stats(masks)
        return {"ui": {"segue_test_stats": [stats]}}


NODE_CLASS_MAPPINGS = {
    "SegueTestRandomConditioning": SegueTestRandomConditioning,
    "SegueTestTensorStats": SegueTestTensorStats,
}
