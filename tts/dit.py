"""The diffusion transformer that predicts the flow velocity of speech latents (F5-TTS layout).

Per frame the input is `noisy latent ‖ prompt latent (zero on the span to generate) ‖ text embedding`;
the text is refined by ConvNeXt V2 blocks and laid over the frames by `text_layout`: padded with the
filler token to the frame count (F5-TTS), or spread evenly over the valid frames (`tts.text_layout`). The
blocks are transformer layers with rotary positions and adaptive LayerNorm on the flow time.
It computes F5-TTS v1's DiT function, and with `text_mask_padding=False, rotary_heads=1` F5-TTS v0's
(F5TTS_Base); `backbone="unet"` builds F5-TTS's flat U-Net transformer instead (E2-TTS, tts/unett.py)
from this module's parts. Tests compare each with F5-TTS's own outputs. They differ only where
F5-TTS lets batch padding leak into other frames: here padding frames (mask False) are zeroed
before every convolution, left out of normalisation statistics and hidden from attention, so a
padded batch gives each item what it would get alone; at batch 1 the two agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from codec.masks import length_mask
from codec.rotary import apply_rotary, rotary_angles, rotary_frequencies, rotary_tables

from .text_layout import TEXT_LAYOUTS, spread

# F5-TTS turns adjacent channel pairs (2i, 2i + 1), x-transformers' layout.
ROTARY_LAYOUT = "pairs"
# "dit": DiT below (F5-TTS's DiT); "unet": tts/unett.py's UNetT (F5-TTS's flat U-Net transformer, E2-TTS).
BACKBONES = ("dit", "unet")


@dataclass(frozen=True)
class DiTConfig:
    latent_dim: int = 128
    dim: int = 1024
    depth: int = 22
    heads: int = 16
    ff_mult: int = 2
    text_dim: int = 512
    text_vocab_size: int = 76  # len(PhoneTokenizer.vocab), filler included
    conv_layers: int = 4  # ConvNeXt blocks on the text; they learn the rough text-speech alignment
    conv_pos_kernel: int = 31  # F5-TTS's convolutional position embedding on the input
    dropout: float = 0.1
    # "filler" (F5-TTS: token i on frame i, then filler) or "spread" (each token over ~N/L frames, an
    # alignment prior; see tts/text_layout.py). F5-TTS checkpoints need "filler".
    text_layout: str = "filler"
    backbone: str = "dit"  # see BACKBONES
    # Zero the filler frames around each text ConvNeXt block (F5-TTS v1). F5-TTS v0 (False) runs the
    # blocks over the filler tokens too, so text features spread into the frames past the text.
    text_mask_padding: bool = True
    # Rotary positions on the first `rotary_heads` attention heads only; None = all (F5-TTS v1).
    # F5-TTS v0 and E2-TTS turn one head: the others attend without positions.
    rotary_heads: int | None = None
    # True: the rotary frequencies are a buffer saved with the model (`rotary_freqs.inv_freq`), not
    # recomputed: F5-TTS uses the ones its checkpoint stores, and a float16 file stores rounded ones
    # (computing them exactly moves the angles of late frames: 10 % velocity error at 1,500 frames).
    stored_rotary_freqs: bool = False
    # Channels per attention head; None = dim / heads. F5-TTS sets it apart from dim (its `dim_head`, 64 in
    # every release), so heads × head_dim may differ from dim in other F5-TTS models.
    head_dim: int | None = None

    @property
    def head_size(self) -> int:
        return self.dim // self.heads if self.head_dim is None else self.head_dim

    @property
    def attention_dim(self) -> int:
        return self.heads * self.head_size

    def __post_init__(self):
        for name in ("latent_dim", "dim", "depth", "heads", "ff_mult", "text_dim", "text_vocab_size",
                     "conv_pos_kernel"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.head_dim is None and self.dim % (2 * self.heads):  # rotary turns pairs of each head's channels
            raise ValueError(f"dim ({self.dim}) must split into heads ({self.heads}) of even size")
        if self.head_dim is not None and (self.head_dim < 2 or self.head_dim % 2):
            raise ValueError(f"head_dim must be an even number of at least 2, got {self.head_dim!r}")
        if self.conv_layers < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"conv_layers must be at least 0 (got {self.conv_layers}) and dropout in [0, 1) "
                             f"(got {self.dropout})")
        if self.text_layout not in TEXT_LAYOUTS:
            raise ValueError(f"unknown text_layout {self.text_layout!r}; choose one of {TEXT_LAYOUTS}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.backbone == "unet" and self.depth % 2:
            raise ValueError(f"the U-Net backbone pairs its layers around the middle: depth must be even, "
                             f"got {self.depth}")
        if self.rotary_heads is not None and not 1 <= self.rotary_heads <= self.heads:
            raise ValueError(f"rotary_heads must be None (all) or 1..heads ({self.heads}), got {self.rotary_heads}")
        if self.text_layout == "spread" and not self.text_mask_padding:
            raise ValueError("the 'spread' text layout embeds the tokens alone: it needs text_mask_padding=True")

    @classmethod
    def base(cls, **overrides) -> "DiTConfig":
        """~330M parameters: F5-TTS Base's sizes."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides) -> "DiTConfig":
        """~155M parameters (F5-TTS Small's sizes): trains on one GPU."""
        return cls(**{"dim": 768, "depth": 18, "heads": 12, **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "DiTConfig":
        """For tests: a few hundred thousand parameters."""
        return cls(**{"dim": 64, "depth": 2, "heads": 4, "text_dim": 32, "conv_layers": 1,
                      "conv_pos_kernel": 7, "dropout": 0.0, **overrides})


def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """t: (B,) in [0, 1] → (B, dim) sinusoids, sin ‖ cos; the scale spreads [0, 1] over many periods."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
    angles = scale * t.float()[:, None] * freqs[None]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def text_position_table(n: int, dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(N, dim): cos ‖ sin of the rotary angles, F5-TTS's absolute positions for the text."""
    angles = rotary_angles(n, dim, device)  # (N, dim / 2)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class StoredRotaryFrequencies(nn.Module):
    """A checkpoint's own rotary frequencies, `inv_freq: (head_dim / 2,)`, kept in float32 whatever the
    weights are cast to: in bfloat16 the angles of late frames would move (see `DiTConfig.stored_rotary_freqs`)."""

    inv_freq: torch.Tensor

    def __init__(self, head_dim: int):
        super().__init__()
        self.register_buffer("inv_freq", rotary_frequencies(head_dim))

    def _apply(self, fn, recurse=True):
        self.inv_freq = self.inv_freq.to(fn(self.inv_freq).device)  # moved as asked, never cast
        return self


def rope_tables(config: DiTConfig, n: int, stored: StoredRotaryFrequencies | None,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (n, head_dim) float32, for positions 0..n-1."""
    return rotary_tables(n, config.head_size, ROTARY_LAYOUT, device,
                         inv_freq=None if stored is None else stored.inv_freq)


def attention(qkv: nn.Linear, h: torch.Tensor, heads: int, rope: tuple[torch.Tensor, torch.Tensor],
              attn_mask: torch.Tensor, rotary_heads: int | None) -> torch.Tensor:
    """Self-attention of h: (B, N, C) with rotary positions on the first `rotary_heads` heads (None: all),
    attn_mask: (B, 1, 1, N) bool, True = attend → (B, N, H d), before the output projection."""
    B, N, _ = h.shape
    q, k, v = qkv(h).view(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)  # 3×(B, H, N, d)
    if rotary_heads is None:
        q, k = apply_rotary(q, *rope, ROTARY_LAYOUT), apply_rotary(k, *rope, ROTARY_LAYOUT)
    else:
        r = rotary_heads
        q = torch.cat([apply_rotary(q[:, :r], *rope, ROTARY_LAYOUT), q[:, r:]], dim=1)
        k = torch.cat([apply_rotary(k[:, :r], *rope, ROTARY_LAYOUT), k[:, r:]], dim=1)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, N, d)
    return a.transpose(1, 2).reshape(B, N, -1)  # (B, N, H d)


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x: (B, N, C), mask: (B, N) → x with the frames where mask is False zeroed."""
    return x.masked_fill(~mask[..., None], 0.0)


class GRN(nn.Module):
    """ConvNeXt V2 global response normalisation, its statistics over valid frames only."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C)"""
        gx = _masked(x, mask).norm(p=2, dim=1, keepdim=True)  # (B, 1, C)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    def __init__(self, dim: int, hidden: int, kernel: int = 7):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, hidden)
        self.grn = GRN(hidden)
        self.pw2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C), zero where it must not be seen; mask: (B, N), the frames GRN pools → (B, N, C)"""
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)  # (B, N, C)
        h = self.pw2(self.grn(F.gelu(self.pw1(self.norm(h))), mask))
        return x + h


class TextEmbedding(nn.Module):
    """Token ids (B, L), 0-padded → per-frame text features (B, N, text_dim), by the config's layout.

    "filler", as F5-TTS v1: the ids are padded with the filler (0) to the frame count, absolute
    positions (`text_position_table`) are added, and filler positions are zeroed before and after
    every ConvNeXt block, so the blocks see the tokens alone and the filler frames carry no text
    features at all; with `text_mask_padding=False` (F5-TTS v0) only batch padding is zeroed, and
    the blocks run over the filler tokens too. "spread": the same embedding, positions and blocks on
    the tokens alone, then each token's features are repeated over its share of the valid frames
    (`tts.text_layout.spread`).
    Without blocks, the embedding is used as is.
    """

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.layout = config.text_layout
        self.mask_padding = config.text_mask_padding
        self.embed = nn.Embedding(config.text_vocab_size, config.text_dim)
        self.blocks = nn.ModuleList(
            ConvNeXtV2Block(config.text_dim, 2 * config.text_dim) for _ in range(config.conv_layers))

    def forward(self, text: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """text: (B, L) long, 0 = filler; mask: (B, N) bool, True = valid frame; drop: (B,) bool, True =
        replace every token by the filler (the text-free branch of guidance). → (B, N, text_dim)"""
        n_frames = mask.shape[1]
        frames = mask.sum(1)  # (B,)
        # Text longer than the frames is cut to them, in both layouts.
        if self.layout == "filler":
            text = F.pad(text[:, :n_frames], (0, max(0, n_frames - text.shape[1])), value=0)  # (B, N)
            text = text.masked_fill(~mask, 0)
        else:
            text = text[:, :n_frames]  # (B, L')
            text = text.masked_fill(~length_mask(frames, text.shape[1]), 0)
        # Taken before the drop, as in F5-TTS: a dropped text still has its length, as zero positions.
        tokens = text != 0  # (B, N) filler, (B, L') spread
        shown = tokens if self.mask_padding else mask  # the frames the blocks see and fill
        h = self.embed(text.masked_fill(drop[:, None], 0))  # (B, N or L', text_dim)
        if self.blocks:
            h = _masked(h + text_position_table(h.shape[1], h.shape[-1], h.device)[None].to(h.dtype), shown)
            for block in self.blocks:
                h = _masked(block(h, mask if self.layout == "filler" else tokens), shown)
        if self.layout == "spread":
            return spread(h, tokens.sum(1), frames, n_frames)
        return h if self.blocks else _masked(h, mask)


class ConvPositionEmbedding(nn.Module):
    def __init__(self, dim: int, kernel: int):
        super().__init__()
        groups = math.gcd(16, dim)
        self.conv1 = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        self.conv2 = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) → (B, N, C)"""
        h = F.mish(self.conv1(_masked(x, mask).transpose(1, 2)))  # (B, C, N)
        h = F.mish(self.conv2(h.masked_fill(~mask[:, None], 0.0)))
        return h.transpose(1, 2)


class DiTBlock(nn.Module):
    """Pre-norm attention + feed-forward, each modulated and gated by the time (adaLN-Zero)."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        dim = config.dim
        self.heads = config.heads
        self.rotary_heads = config.rotary_heads
        self.modulation = nn.Linear(dim, 6 * dim)
        self.attn_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * config.attention_dim)
        self.attn_out = nn.Linear(config.attention_dim, dim)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = nn.Sequential(nn.Linear(dim, config.ff_mult * dim), nn.GELU(approximate="tanh"),
                                nn.Dropout(config.dropout), nn.Linear(config.ff_mult * dim, dim))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                attn_mask: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C), t_emb: (B, C), attn_mask: (B, 1, 1, N) bool, True = attend."""
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = self.modulation(F.silu(t_emb))[:, None].chunk(6, dim=-1)
        h = self.attn_norm(x) * (1 + scale_a) + shift_a
        a = self.attn_out(attention(self.qkv, h, self.heads, rope, attn_mask, self.rotary_heads))  # (B, N, C)
        x = x + gate_a * self.dropout(a)
        h = self.ff_norm(x) * (1 + scale_f) + shift_f
        return x + gate_f * self.ff(h)  # the feed-forward's dropout is inside it only, as F5-TTS


class FlowBackbone(nn.Module):
    """Velocity network v(x_t, t | prompt, text) on latents: (B, N, latent_dim) → (B, N, latent_dim).

    The input side every backbone shares (F5-TTS's): the text embedding, the input projection of
    `noisy ‖ prompt ‖ text` per frame with its convolutional position embedding, and the flow time's
    MLP. A subclass adds its transformer as `velocity`.
    """

    backbone: str  # the DiTConfig.backbone this class builds

    def __init__(self, config: DiTConfig):
        super().__init__()
        if config.backbone != self.backbone:
            raise ValueError(f"{type(self).__name__} builds backbone {self.backbone!r}, not {config.backbone!r}: "
                             f"use tts.backbones.build_backbone")
        self.config = config
        self.text_embed = TextEmbedding(config)
        self.in_proj = nn.Linear(2 * config.latent_dim + config.text_dim, config.dim)
        self.conv_pos = ConvPositionEmbedding(config.dim, config.conv_pos_kernel)
        self.time_mlp = nn.Sequential(nn.Linear(256, config.dim), nn.SiLU(), nn.Linear(config.dim, config.dim))
        self.rotary_freqs = StoredRotaryFrequencies(config.head_size) if config.stored_rotary_freqs else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor, text: torch.Tensor, time: torch.Tensor,
                mask: torch.Tensor, drop_audio: torch.Tensor, drop_text: torch.Tensor) -> torch.Tensor:
        """Predict the velocity.

        x: (B, N, D) noisy latent at flow time `time: (B,)`; cond: (B, N, D) prompt latent, zero on
        the span to generate; text: (B, L) token ids (0 = filler); mask: (B, N) bool, True = valid;
        drop_audio / drop_text: (B,) bool, True = drop that condition (for classifier-free guidance).
        Returns (B, N, D); padding frames hold unspecified values.
        """
        return self.velocity(x, cond, self.embed_text(text, mask, drop_text), time, mask, drop_audio)

    def embed_text(self, text: torch.Tensor, mask: torch.Tensor, drop_text: torch.Tensor) -> torch.Tensor:
        """text: (B, L), mask: (B, N), drop_text: (B,) → (B, N, text_dim); it does not depend on the
        flow time, so a sampler computes it once for all its steps."""
        return self.text_embed(text, mask, drop_text)

    def velocity(self, x: torch.Tensor, cond: torch.Tensor, text_h: torch.Tensor, time: torch.Tensor,
                 mask: torch.Tensor, drop_audio: torch.Tensor) -> torch.Tensor:
        """`forward` with the text already embedded: text_h (B, N, text_dim) from `embed_text`."""
        raise NotImplementedError

    def embed_input(self, x: torch.Tensor, cond: torch.Tensor, text_h: torch.Tensor, time: torch.Tensor,
                    mask: torch.Tensor, drop_audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`velocity`'s arguments → (frames (B, N, dim), flow time embedding (B, dim))."""
        cond = cond.masked_fill(drop_audio[:, None, None], 0.0)
        h = self.in_proj(torch.cat([x, cond, text_h.to(x.dtype)], dim=-1))  # (B, N, dim)
        h = h + self.conv_pos(h, mask)
        return h, self.time_mlp(timestep_embedding(time, 256).to(h.dtype))


class DiT(FlowBackbone):
    """F5-TTS's DiT: blocks modulated by the flow time (adaLN-Zero), then a modulated output norm."""

    backbone = "dit"

    def __init__(self, config: DiTConfig):
        super().__init__(config)
        blocks = [DiTBlock(config) for _ in range(config.depth)]
        self.blocks = nn.ModuleList(blocks)
        self.out_modulation = nn.Linear(config.dim, 2 * config.dim)
        self.out_norm = nn.LayerNorm(config.dim, elementwise_affine=False, eps=1e-6)
        self.out_proj = nn.Linear(config.dim, config.latent_dim)
        # adaLN-Zero: each block starts as the identity and the output at zero, which keeps the
        # first steps of training stable in a deep stack.
        for layer in [b.modulation for b in blocks] + [self.out_modulation, self.out_proj]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def velocity(self, x: torch.Tensor, cond: torch.Tensor, text_h: torch.Tensor, time: torch.Tensor,
                 mask: torch.Tensor, drop_audio: torch.Tensor) -> torch.Tensor:
        """`forward` with the text already embedded: text_h (B, N, text_dim) from `embed_text`."""
        h, t_emb = self.embed_input(x, cond, text_h, time, mask, drop_audio)  # (B, N, dim), (B, dim)
        rope = rope_tables(self.config, x.shape[1], self.rotary_freqs, x.device)
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, N)
        for block in self.blocks:
            h = block(h, t_emb, rope, attn_mask)
        scale, shift = self.out_modulation(F.silu(t_emb))[:, None].chunk(2, dim=-1)  # F5-TTS's order
        return self.out_proj(self.out_norm(h) * (1 + scale) + shift)
