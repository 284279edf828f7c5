"""Pre-LayerNorm transformer with rotary positions, used by the acoustic decoder and the vocoder.

The reference runs these layers through flash-attn's varlen kernel on packed sequences. Here every
sequence of a padded batch attends only to its own valid frames (a key-padding mask), under the same
causal / sliding-window rule, through `scaled_dot_product_attention`: one padded batch gives the
numbers each clip gives alone, on CPU and GPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rotary import apply_rotary, rotary_tables

# The released checkpoints were trained with the rotate-half layout: channel k turns with k + head_dim/2.
ROTARY_LAYOUT = "half"


def attention_mask(
    mask: torch.Tensor | None, n: int, causal: bool, window: tuple[int, int], device: torch.device
) -> torch.Tensor | None:
    """Boolean `(B or 1, 1, N, N)` mask, True = may attend; None when every pair may attend.

    `window = (left, right)` limits query i to keys in [i - left, i + right] (-1 = unlimited), as
    flash-attn's `window_size`. Padded queries keep their own position so that no row is empty
    (an all-False row makes SDPA return NaN); their outputs are discarded anyway.
    """
    left, right = window
    if causal:
        right = 0
    allowed = None
    if left >= 0 or right >= 0:
        i = torch.arange(n, device=device)[:, None]
        j = torch.arange(n, device=device)[None, :]
        allowed = torch.ones(n, n, dtype=torch.bool, device=device)
        if left >= 0:
            allowed &= j >= i - left
        if right >= 0:
            allowed &= j <= i + right
        allowed = allowed[None, None]  # (1, 1, N, N)
    if mask is None or bool(mask.all()):
        return allowed
    keys = mask[:, None, None, :]  # (B, 1, 1, N)
    allowed = keys if allowed is None else allowed & keys
    return allowed | torch.eye(n, dtype=torch.bool, device=device)[None, None]


class SelfAttention(nn.Module):
    """Multi-head self-attention; key names follow the released checkpoints (k_proj has no bias)."""

    def __init__(self, dim: int, heads: int, causal: bool, window: tuple[int, int]):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.causal, self.window = heads, causal, (window[0], window[1])  # a list in JSON
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None
    ) -> torch.Tensor:
        """`x: (B, N, C)`, `mask: (B, N)` bool or None → `(B, N, C)`."""
        b, n, c = x.shape
        q, k, v = (p(x).view(b, n, self.heads, c // self.heads).transpose(1, 2)  # (B, H, N, D)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        q, k = apply_rotary(q, *rope, ROTARY_LAYOUT), apply_rotary(k, *rope, ROTARY_LAYOUT)
        bias = attention_mask(mask, n, self.causal, self.window, x.device)
        # Plain causal attention over unpadded sequences can take the flash kernel.
        plain_causal = bias is not None and self.causal and self.window[0] < 0 and (mask is None or bool(mask.all()))
        if plain_causal:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, c))  # (B, N, C)


class TransformerLayer(nn.Module):
    """Pre-LN block: x + attn(LN(x)), then x + fc2(gelu(fc1(LN(x))))."""

    def __init__(self, dim: int, heads: int, ffn: int, causal: bool, window: tuple[int, int] = (-1, -1)):
        super().__init__()
        self.self_attn = SelfAttention(dim, heads, causal, window)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), rope, mask)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class Transformer(nn.Module):
    """A stack of `TransformerLayer`s sharing one rotary table; `forward(x (B,N,C), mask) → (B,N,C)`."""

    def __init__(self, dim: int, heads: int, ffn: int, num_layers: int, causal: bool,
                 window: tuple[int, int] = (-1, -1), rope_theta: float = 10000.0):
        super().__init__()
        self.head_dim, self.rope_theta = dim // heads, rope_theta
        self.layers = nn.ModuleList(TransformerLayer(dim, heads, ffn, causal, window) for _ in range(num_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        cos, sin = rotary_tables(x.shape[1], self.head_dim, ROTARY_LAYOUT, x.device, self.rope_theta)
        rope = (cos[None, None], sin[None, None])  # (1, 1, N, D)
        for layer in self.layers:
            x = layer(x, rope, mask)
        return x
