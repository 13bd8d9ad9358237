"""Tiny random Wan 2.1 VACE weights that ComfyUI's real loaders accept.

The integration tests run the real ``UNETLoader -> WanVaceToVideo -> KSampler -> VAEDecode``
chain on a CPU, so they need model files that ComfyUI *detects* as Wan 2.1 VACE and a Wan 2.1 VAE.
Real checkpoints are gigabytes; these files are written from key names and shapes alone:

* DiT: ComfyUI reads the architecture off the state dict (``head.modulation`` -> Wan 2.1,
  ``dim`` = its last axis, heads = dim // 128, ``ffn_dim`` = ``blocks.0.ffn.0.weight`` rows,
  ``vace_patch_embedding.weight`` -> VACE with ``vace_in_dim`` = its input channels, and the count
  of ``blocks.N`` / ``vace_blocks.N``), so a 128-wide, 2-block, 1-VACE-block model (~1.4 M
  parameters, a few MB) loads as the same class as the 14B one.
* VAE: the Wan 2.1 VAE's configuration is fixed inside ComfyUI (base width 96, 16 latent
  channels, width multipliers 1/2/4/4), so every tensor must be present with its real shape
  (~127 M parameters, 254 MB in fp16).  Missing tensors would be left uninitialised, not random.
  Writing it takes seconds, so tests write it once into a cache folder keyed by ``VAE_VERSION``.

Values are random but tame (fan-in scaled weights, unit norm gains, zero biases) so nothing
overflows to NaN in fp16/fp32 and the decoded frames are finite.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

VAE_VERSION = "wan21-vae-v1"
DIT_FILE = "segue_tiny_wan21_vace.safetensors"
VAE_FILE = "segue_tiny_wan21_vae.safetensors"

Shapes = dict[str, tuple[int, ...]]


def _linear(shapes: Shapes, name: str, out_f: int, in_f: int) -> None:
    shapes[f"{name}.weight"] = (out_f, in_f)
    shapes[f"{name}.bias"] = (out_f,)


def _conv(shapes: Shapes, name: str, out_c: int, in_c: int, kernel: tuple[int, ...]) -> None:
    shapes[f"{name}.weight"] = (out_c, in_c, *kernel)
    shapes[f"{name}.bias"] = (out_c,)


def _dit_block(shapes: Shapes, name: str, dim: int, ffn_dim: int) -> None:
    """One Wan attention block: self-attention, normed cross-attention, FFN, 6-way modulation."""
    for attn in ("self_attn", "cross_attn"):
        for proj in ("q", "k", "v", "o"):
            _linear(shapes, f"{name}.{attn}.{proj}", dim, dim)
        shapes[f"{name}.{attn}.norm_q.weight"] = (dim,)
        shapes[f"{name}.{attn}.norm_k.weight"] = (dim,)
    shapes[f"{name}.norm3.weight"] = (dim,)
    shapes[f"{name}.norm3.bias"] = (dim,)
    _linear(shapes, f"{name}.ffn.0", ffn_dim, dim)
    _linear(shapes, f"{name}.ffn.2", dim, ffn_dim)
    shapes[f"{name}.modulation"] = (1, 6, dim)


def wan21_vace_dit_shapes(dim: int = 128, ffn_dim: int = 256, layers: int = 2, vace_layers: int = 1,
                          in_dim: int = 16, out_dim: int = 16, vace_in_dim: int = 96,
                          text_dim: int = 4096, freq_dim: int = 256) -> Shapes:
    """Key -> shape of a Wan 2.1 VACE DiT (patch 1x2x2), as stored in ComfyUI-style files."""
    if dim % 128:
        raise ValueError(f"dim={dim}: ComfyUI derives heads as dim // 128, use a multiple of 128")
    s: Shapes = {}
    _conv(s, "patch_embedding", dim, in_dim, (1, 2, 2))
    _linear(s, "text_embedding.0", dim, text_dim)
    _linear(s, "text_embedding.2", dim, dim)
    _linear(s, "time_embedding.0", dim, freq_dim)
    _linear(s, "time_embedding.2", dim, dim)
    _linear(s, "time_projection.1", dim * 6, dim)
    for i in range(layers):
        _dit_block(s, f"blocks.{i}", dim, ffn_dim)
    _linear(s, "head.head", out_dim * 4, dim)
    s["head.modulation"] = (1, 2, dim)
    for i in range(vace_layers):
        _dit_block(s, f"vace_blocks.{i}", dim, ffn_dim)
        if i == 0:
            _linear(s, f"vace_blocks.{i}.before_proj", dim, dim)
        _linear(s, f"vace_blocks.{i}.after_proj", dim, dim)
    _conv(s, "vace_patch_embedding", dim, vace_in_dim, (1, 2, 2))
    return s


def _vae_resblock(s: Shapes, name: str, in_c: int, out_c: int) -> None:
    s[f"{name}.residual.0.gamma"] = (in_c, 1, 1, 1)
    _conv(s, f"{name}.residual.2", out_c, in_c, (3, 3, 3))
    s[f"{name}.residual.3.gamma"] = (out_c, 1, 1, 1)
    _conv(s, f"{name}.residual.6", out_c, out_c, (3, 3, 3))
    if in_c != out_c:
        _conv(s, f"{name}.shortcut", out_c, in_c, (1, 1, 1))


def _vae_middle(s: Shapes, name: str, c: int) -> None:
    _vae_resblock(s, f"{name}.0", c, c)
    s[f"{name}.1.norm.gamma"] = (c, 1, 1)
    _conv(s, f"{name}.1.to_qkv", c * 3, c, (1, 1))
    _conv(s, f"{name}.1.proj", c, c, (1, 1))
    _vae_resblock(s, f"{name}.2", c, c)


def wan21_vae_shapes(dim: int = 96, z_dim: int = 16, mult: tuple[int, ...] = (1, 2, 4, 4),
                     res_blocks: int = 2, temporal_down: tuple[bool, ...] = (False, True, True)) -> Shapes:
    """Key -> shape of the Wan 2.1 causal 3-D VAE (the configuration ComfyUI hard-codes)."""
    s: Shapes = {}
    # Encoder: widths dim*[1, *mult], res blocks per level, a (temporal) downsample between levels.
    widths = [dim * m for m in (1, *mult)]
    _conv(s, "encoder.conv1", widths[0], 3, (3, 3, 3))
    idx = 0
    for level, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        for _ in range(res_blocks):
            _vae_resblock(s, f"encoder.downsamples.{idx}", c_in, c_out)
            c_in, idx = c_out, idx + 1
        if level < len(mult) - 1:
            _conv(s, f"encoder.downsamples.{idx}.resample.1", c_out, c_out, (3, 3))
            if temporal_down[level]:
                _conv(s, f"encoder.downsamples.{idx}.time_conv", c_out, c_out, (3, 1, 1))
            idx += 1
    top = widths[-1]
    _vae_middle(s, "encoder.middle", top)
    s["encoder.head.0.gamma"] = (top, 1, 1, 1)
    _conv(s, "encoder.head.2", z_dim * 2, top, (3, 3, 3))
    _conv(s, "conv1", z_dim * 2, z_dim * 2, (1, 1, 1))
    _conv(s, "conv2", z_dim, z_dim, (1, 1, 1))
    # Decoder: mirror image; each upsample halves the channels, so the next level starts at half.
    widths = [dim * m for m in (mult[-1], *mult[::-1])]
    temporal_up = temporal_down[::-1]
    _conv(s, "decoder.conv1", widths[0], z_dim, (3, 3, 3))
    _vae_middle(s, "decoder.middle", widths[0])
    idx = 0
    for level, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        if level > 0:
            c_in //= 2
        for _ in range(res_blocks + 1):
            _vae_resblock(s, f"decoder.upsamples.{idx}", c_in, c_out)
            c_in, idx = c_out, idx + 1
        if level < len(mult) - 1:
            _conv(s, f"decoder.upsamples.{idx}.resample.1", c_out // 2, c_out, (3, 3))
            if temporal_up[level]:
                _conv(s, f"decoder.upsamples.{idx}.time_conv", c_out * 2, c_out, (3, 1, 1))
            idx += 1
    s["decoder.head.0.gamma"] = (widths[-1], 1, 1, 1)
    _conv(s, "decoder.head.2", 3, widths[-1], (3, 3, 3))
    return s


def parameter_count(shapes: Shapes) -> int:
    return sum(math.prod(shape) for shape in shapes.values())


def random_state_dict(shapes: Shapes, seed: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Tame random values: gains 1, biases 0, modulations small, weights ~ N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in shapes.items():
        if name.endswith(".gamma") or (name.endswith(".weight") and len(shape) == 1):
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        elif name.endswith("modulation"):
            t = torch.randn(shape, generator=g) * 0.02
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        sd[name] = t.to(dtype).contiguous()
    return sd


def _write_atomic(sd: dict[str, torch.Tensor], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(sd, str(tmp))
    os.replace(tmp, path)
    return path


def write_tiny_dit(path: Path, seed: int = 0) -> Path:
    """The tiny Wan 2.1 VACE DiT (fp32, ~5.6 MB) at ``path``."""
    return _write_atomic(random_state_dict(wan21_vace_dit_shapes(), seed, torch.float32), Path(path))


def cached_tiny_vae(cache_dir: Path) -> Path:
    """The full-size random Wan 2.1 VAE (fp16, 254 MB), written once per ``VAE_VERSION``."""
    path = Path(cache_dir) / VAE_VERSION / VAE_FILE
    if not path.is_file():
        _write_atomic(random_state_dict(wan21_vae_shapes(), 1, torch.float16), path)
    return path


def default_cache_dir() -> Path:
    """``$SEGUE_TEST_CACHE`` or ``~/.cache/segue-tests`` (outside the repository)."""
    return Path(os.environ.get("SEGUE_TEST_CACHE", Path.home() / ".cache" / "segue-tests"))


def install_tiny_wan(models_dir: Path, cache_dir: Path | None = None) -> tuple[str, str]:
    """Put the DiT under ``diffusion_models/`` and link the cached VAE under ``vae/``.

    Returns the ``(unet_name, vae_name)`` that UNETLoader / VAELoader take.
    """
    models_dir = Path(models_dir)
    write_tiny_dit(models_dir / "diffusion_models" / DIT_FILE)
    vae = cached_tiny_vae(cache_dir or default_cache_dir())
    link = models_dir / "vae" / VAE_FILE
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(vae)
    return DIT_FILE, VAE_FILE


LORA_FILE = "segue_tiny_lora.safetensors"


def write_tiny_lora(path: Path, dim: int = 128, rank: int = 4, seed: int = 2) -> Path:
    """A rank-``rank`` LoRA on every attention projection of the tiny DiT's blocks, in ComfyUI's
    generic key format (``diffusion_model.<module>.lora_up/lora_down.weight``), strong enough
    that applying it visibly changes the sampled latent."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for block in range(2):
        for attn in ("self_attn", "cross_attn"):
            for proj in ("q", "k", "v", "o"):
                key = f"diffusion_model.blocks.{block}.{attn}.{proj}"
                sd[f"{key}.lora_up.weight"] = torch.randn(dim, rank, generator=g) * 0.5
                sd[f"{key}.lora_down.weight"] = torch.randn(rank, dim, generator=g) * 0.5
    return _write_atomic(sd, Path(path))
