"""Any TTS model we run, by one name: a saved cubetts model (local folder or hub id) or an F5-TTS checkpoint
(release name, hub path, local file or trainer's folder), the latter converted once and cached."""
from __future__ import annotations

import os

import torch

from . import f5_checkpoint
from .model import TTSModel


def load_model(source: str | os.PathLike, device: torch.device | str = "cpu",
               subfolder: str | None = None) -> TTSModel:
    """`source`: a directory written by `TTSModel.save_pretrained` or a hub repo id holding one; or an F5-TTS
    checkpoint: a release name ("F5TTS_v1_Base", "F5TTS_Base", "F5TTS_v1_Small", "E2TTS_Base"),
    "SWivid/F5-TTS/<release>" (or the repo with the release as `subfolder`), a local .safetensors / .pt with
    its vocab.txt beside it, or a folder holding them (tts/f5_checkpoint.py)."""
    if f5_checkpoint.is_f5_source(source):
        return TTSModel.from_pretrained(f5_checkpoint.converted(source, subfolder), device)
    return TTSModel.from_pretrained(source, device, subfolder)
