"""The one device choice: what `--device` names (auto: CUDA, else MPS, else CPU), the dtype for it,
and, under torchrun, the GPU that belongs to this process."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError

if TYPE_CHECKING:
    import torch


def pick_device(spec: str = "auto") -> str:
    import torch

    if spec == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if spec.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise UserError(f"unknown --device {spec!r}: auto, cpu, cuda, cuda:N or mps")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {spec}: CUDA is not available on this machine")
    if spec == "mps" and not torch.backends.mps.is_available():
        raise UserError("--device mps: Apple's MPS backend is not available on this machine")
    return spec


def rank_device(spec: str = "auto") -> str:
    """`pick_device`, except that each torchrun process on CUDA takes its own GPU (cuda:LOCAL_RANK)."""
    device = pick_device(spec)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and device.startswith("cuda"):
        import torch

        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return device


def pick_dtype(spec: str, device: str) -> torch.dtype:
    """float32 on CPU; float16 on a GPU unless asked otherwise (tiny models lose nothing to it)."""
    import torch

    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if spec == "auto":
        return torch.float32 if device == "cpu" else torch.float16
    if spec not in names:
        raise UserError(f"unknown --dtype {spec!r}: auto, float32, float16 or bfloat16")
    return names[spec]
