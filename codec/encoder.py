"""WavCube encoder: 16 kHz waveform → 128-d latent at 50 Hz.

WavLM (transformers `WavLMModel`, its final-LayerNorm output) → 3 more WavLM encoder layers →
MLP bottleneck hidden → (hidden + latent)/2 → latent, then LayerNorm. One frame per 320 samples:
a clip of T samples gives `(T - 400) // 320 + 1` frames (WavLM's convolutional front end).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import torch
from torch import nn
from transformers import WavLMConfig, WavLMModel
from transformers.models.wavlm.modeling_wavlm import WavLMEncoderLayer, WavLMEncoderLayerStableLayerNorm

from .checkpoint import check_at_least
from .masks import length_mask


def wavlm_large_config() -> dict[str, Any]:
    """The WavLM-Large architecture, shipped with the package so that no download is needed."""
    return json.loads(resources.files("codec").joinpath("configs/wavlm-large.json").read_text())


@dataclass(frozen=True)
class EncoderConfig:
    wavlm: dict[str, Any] = field(default_factory=wavlm_large_config)  # a transformers WavLMConfig
    layers: int = 3
    latent_dim: int = 128
    # WavLM-Large was pre-trained on utterance-normalised audio (zero mean, unit variance).
    normalize_input: bool = True

    def __post_init__(self):
        check_at_least(self, 1, "layers", "latent_dim")

    @classmethod
    def base(cls) -> "EncoderConfig":
        """WavLM-Large, as in the released WavCube and WavCube-pro."""
        return cls()

    @classmethod
    def tiny(cls) -> "EncoderConfig":
        small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     conv_dim=[16] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
        return cls(wavlm={**wavlm_large_config(), **small}, layers=2)


def normalize_clips(wav: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-clip zero mean / unit variance over valid samples, as transformers' Wav2Vec2FeatureExtractor."""
    m = length_mask(lengths, wav.shape[1]).to(wav.dtype)  # (B, T)
    n = lengths[:, None].to(wav.dtype)
    mean = (wav * m).sum(dim=1, keepdim=True) / n
    var = ((wav - mean).square() * m).sum(dim=1, keepdim=True) / n
    return (wav - mean) * torch.rsqrt(var + 1e-7) * m


def wavlm_layers(wcfg: WavLMConfig, count: int) -> nn.ModuleList:
    """`count` fresh copies of WavLM's own encoder layer type; the first computes the relative position bias."""
    layer_cls = WavLMEncoderLayerStableLayerNorm if wcfg.do_stable_layer_norm else WavLMEncoderLayer
    return nn.ModuleList(layer_cls(wcfg, has_relative_position_bias=(i == 0)) for i in range(count))


def run_wavlm_layers(layers: nn.ModuleList, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """WavLM encoder layers over `(B, N, C)` with a padding mask `(B, N)`; the first computes the position bias."""
    padded = not bool(mask.all())
    position_bias = None
    with warnings.catch_warnings():
        # WavLM pairs a bool padding mask with a float position bias; torch warns on every call.
        warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
        for layer in layers:
            hidden, position_bias = layer(hidden, attention_mask=mask.long() if padded else None,
                                          position_bias=position_bias)
    return hidden


class WavCubeEncoder(nn.Module):
    """`forward(wav: (B, T) 16 kHz, lengths: (B,)) → (latent: (B, N, latent_dim), mask: (B, N))`."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        wcfg = WavLMConfig(**config.wavlm)
        self.wavlm = WavLMModel(wcfg)
        self.layers = wavlm_layers(wcfg, config.layers)
        hidden = wcfg.hidden_size
        mid = (hidden + config.latent_dim) // 2
        self.bottleneck = nn.Sequential(
            nn.Linear(hidden, mid), nn.GELU(), nn.Linear(mid, config.latent_dim),
            nn.LayerNorm(config.latent_dim, eps=1e-6),
        )

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Latent frames for clips of `lengths` samples."""
        return self.wavlm._get_feat_extract_output_lengths(lengths).long()

    def features(self, wav: torch.Tensor, lengths: torch.Tensor, wavlm: WavLMModel | None = None,
                 normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """WavLM's `last_hidden_state` `(B, N, hidden)` and the frame mask `(B, N)`.

        `wavlm` replaces the encoder's own WavLM (codec training runs a frozen teacher this way);
        `normalize=False` skips the input normalisation, for a window of a clip normalised as a whole.
        """
        if self.config.normalize_input and normalize:
            wav = normalize_clips(wav, lengths)
        sample_mask = length_mask(lengths, wav.shape[1])
        frames = self.num_frames(lengths)
        # WavLM takes no padding mask when nothing is padded: the reference never passes one.
        padded = bool((lengths < wav.shape[1]).any())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
            out = (wavlm or self.wavlm)(wav, attention_mask=sample_mask.long() if padded else None)
        hidden = out.last_hidden_state
        return hidden, length_mask(frames, hidden.shape[1])

    def project(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """WavLM features `(B, N, hidden)` → latent `(B, N, latent_dim)` (zero on padded frames)."""
        return self.bottleneck(run_wavlm_layers(self.layers, hidden, mask)) * mask[..., None]

    def forward(self, wav: torch.Tensor, lengths: torch.Tensor,
                normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, mask = self.features(wav, lengths, normalize=normalize)
        return self.project(hidden, mask), mask
