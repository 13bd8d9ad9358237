"""Test-only ComfyUI nodes: loaded by the integration harness, never by users.

``SegueTestRandomConditioning`` stands in for a Wan text encoder (umT5 is gigabytes), so the real
WanVaceToVideo -> KSampler -> VAEDecode chain can run with tiny random weights on a CPU.
``SegueTestTensorStats`` reports an IMAGE's / MASK's shape and value range in the history, so a
test can check what flowed between two real nodes without saving it.
``SegueTestSaveTensor`` writes an IMAGE (and an AUDIO) to temp/ as .npz, for a test that must
compare every pixel (e.g. core's GetVideoComponents against what a Segue node read).
``SegueTestVideoList`` makes a VIDEO with no single file behind it, shaped like core's
``VideoFromList`` ("Concatenate Video", after 0.27): ``get_components`` raises
``NotImplementedError``, ``save_to`` writes the parts one after another; ``get_stream_source``
either materialises into the system temp folder as core's does (``path``), hands over an
in-memory buffer (``buffer``), or is not implemented either (``save_only``).
"""

import io
import os
import tempfile
import uuid

import folder_paths
import numpy as np
import torch
from comfy_api.latest import Input, InputImpl, Types


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


class SegueTestSaveTensor:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"label": ("STRING", {"default": ""})},
                "optional": {"images": ("IMAGE",), "audio": ("AUDIO",)}}

    RETURN_TYPES = ()
    FUNCTION = "save"
    OUTPUT_NODE = True
    CATEGORY = "testing/segue"

    def save(self, label, images=None, audio=None):
        folder = os.path.join(folder_paths.get_temp_directory(), "segue_test")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{label}_{uuid.uuid4().hex}.npz")
        arrays = {}
        if images is not None:
            arrays["images"] = images.float().cpu().numpy()
        if audio is not None:
            arrays["waveform"] = audio["waveform"].float().cpu().numpy()
            arrays["sample_rate"] = np.array(int(audio["sample_rate"]))
        np.savez(path, **arrays)
        return {"ui": {"segue_test_tensor": [{"label": label, "file": path, "dtype": str(images.dtype)
                                              if images is not None else None}]}}


class _TestVideoList(Input.Video):
    """Parts played one after another; no tensors, no file of its own until someone asks."""

    def __init__(self, parts, mode):
        self.parts, self.mode = parts, mode
        self._temp = None

    def get_components(self):
        raise NotImplementedError

    def save_to(self, path, format="auto", codec="auto", metadata=None, **kwargs):
        comps = [p.get_components() for p in self.parts]
        audio = None
        if all(c.audio is not None for c in comps):
            audio = {"waveform": torch.cat([c.audio["waveform"] for c in comps], dim=-1),
                     "sample_rate": comps[0].audio["sample_rate"]}
        whole = Types.VideoComponents(images=torch.cat([c.images for c in comps]), audio=audio,
                                      frame_rate=comps[0].frame_rate)
        InputImpl.VideoFromComponents(whole).save_to(path)

    def get_stream_source(self):
        if self.mode == "save_only":
            raise NotImplementedError
        if self._temp is None:
            self._temp = tempfile.TemporaryDirectory(prefix="segue-test-video-")
            self.save_to(os.path.join(self._temp.name, "video.mp4"))
        path = os.path.join(self._temp.name, "video.mp4")
        if self.mode == "path":
            return path
        with open(path, "rb") as f:
            return io.BytesIO(f.read())

    def as_trimmed(self, start_time=None, duration=None, strict_duration=False):
        raise NotImplementedError


class SegueTestVideoList:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video_1": ("VIDEO",), "mode": (["path", "buffer", "save_only"],)},
                "optional": {"video_2": ("VIDEO",)}}

    RETURN_TYPES = ("VIDEO",)
    FUNCTION = "make"
    CATEGORY = "testing/segue"

    def make(self, video_1, mode, video_2=None):
        return (_TestVideoList([v for v in (video_1, video_2) if v is not None], mode),)


class SegueTestHalfImages:
    """An IMAGE as float16, as ComfyUI hands it over with --fp16-intermediates."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "half"
    CATEGORY = "testing/segue"

    def half(self, images):
        return (images.half(),)


NODE_CLASS_MAPPINGS = {
    "SegueTestRandomConditioning": SegueTestRandomConditioning,
    "SegueTestTensorStats": SegueTestTensorStats,
    "SegueTestSaveTensor": SegueTestSaveTensor,
    "SegueTestVideoList": SegueTestVideoList,
    "SegueTestHalfImages": SegueTestHalfImages,
}
