"""The velocity network a TTS model is built on, chosen by the field its config records (`DiTConfig.backbone`)."""
from __future__ import annotations

from .dit import DiT, DiTConfig, FlowBackbone
from .unett import UNetT

BACKBONE_CLASSES: dict[str, type[FlowBackbone]] = {"dit": DiT, "unet": UNetT}


def build_backbone(config: DiTConfig) -> FlowBackbone:
    """`DiT(config)` or `UNetT(config)`, as `config.backbone` says."""
    return BACKBONE_CLASSES[config.backbone](config)
