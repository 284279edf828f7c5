"""The torch device a user names: `auto` (the GPU when there is one), `cpu`, `cuda`, `cuda:1`, ..."""
from __future__ import annotations

import torch


def pick_device(name: str) -> torch.device:
    """`auto` → CUDA if available, else CPU; any other name as torch reads it, refusing CUDA where there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)
