"""F5-TTS's flat U-Net transformer (its `UNetT`, the E2-TTS backbone) on the DiT's input side.

The frames are embedded as in the DiT (`tts.dit.FlowBackbone`: text features from F5-TTS's text
embedding, without ConvNeXt blocks in E2-TTS's releases, laid over the frames with the filler); the
flow time is not a modulation but one more token, put before the first frame. Pre-norm transformer
layers (x-transformers' RMSNorm) follow, joined as a U-Net: each layer of the second half first takes
the input of its mirror in the first half, concatenated to its own and projected back to `dim`.
The output drops the time token. Padding frames are kept out as in the DiT, so a padded batch gives
each item what it would get alone (F5-TTS lets padding leak; at batch 1 the two agree).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dit import DiTConfig, FlowBackbone, attention, rope_tables


class RMSNorm(nn.Module):
    """x-transformers' RMSNorm, as E2-TTS uses it: x / ‖x‖ · √dim · weight over the last axis (no epsilon
    beside the norm's 1e-12 floor, unlike torch.nn.RMSNorm)."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = dim ** 0.5
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.weight


class UNetTBlock(nn.Module):
    """Pre-norm attention + feed-forward; a second-half layer also owns the projection of its skip."""

    def __init__(self, config: DiTConfig, takes_skip: bool):
        super().__init__()
        dim = config.dim
        self.heads = config.heads
        self.rotary_heads = config.rotary_heads
        self.skip: nn.Linear | None = nn.Linear(2 * dim, dim, bias=False) if takes_skip else None
        self.attn_norm = RMSNorm(dim)
        self.qkv = nn.Linear(dim, 3 * config.attention_dim)
        self.attn_out = nn.Linear(config.attention_dim, dim)
        self.ff_norm = RMSNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, config.ff_mult * dim), nn.GELU(approximate="tanh"),
                                nn.Dropout(config.dropout), nn.Linear(config.ff_mult * dim, dim))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], attn_mask: torch.Tensor,
                skips: list[torch.Tensor]) -> torch.Tensor:
        """x: (B, N, C), attn_mask: (B, 1, 1, N) bool, True = attend → (B, N, C). `skips`, the U-Net's stack: a
        first-half layer pushes its input on it, a second-half layer pops its mirror's and joins it to its own."""
        if self.skip is None:
            skips.append(x)
        else:
            x = self.skip(torch.cat([x, skips.pop()], dim=-1))  # (B, N, C)
        a = attention(self.qkv, self.attn_norm(x), self.heads, rope, attn_mask, self.rotary_heads)  # (B, N, C)
        x = x + self.dropout(self.attn_out(a))
        return x + self.ff(self.ff_norm(x))


class UNetT(FlowBackbone):
    """F5-TTS's flat U-Net transformer (`DiTConfig.backbone == "unet"`); depth is even."""

    backbone = "unet"

    def __init__(self, config: DiTConfig):
        super().__init__(config)
        half = config.depth // 2
        self.blocks = nn.ModuleList(UNetTBlock(config, takes_skip=i >= half) for i in range(config.depth))
        self.out_norm = RMSNorm(config.dim)
        self.out_proj = nn.Linear(config.dim, config.latent_dim)

    def velocity(self, x: torch.Tensor, cond: torch.Tensor, text_h: torch.Tensor, time: torch.Tensor,
                 mask: torch.Tensor, drop_audio: torch.Tensor) -> torch.Tensor:
        """`forward` with the text already embedded: text_h (B, N, text_dim) from `embed_text`."""
        h, t_emb = self.embed_input(x, cond, text_h, time, mask, drop_audio)  # (B, N, dim), (B, dim)
        h = torch.cat([t_emb[:, None], h], dim=1)  # (B, 1 + N, dim): the time token first
        mask = F.pad(mask, (1, 0), value=True)  # (B, 1 + N)
        rope = rope_tables(self.config, h.shape[1], self.rotary_freqs, x.device)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, 1 + N)
        skips: list[torch.Tensor] = []
        for block in self.blocks:
            h = block(h, rope, attn_mask, skips)
        return self.out_proj(self.out_norm(h)[:, 1:])  # (B, N, D), the time token dropped
