"""WavCube acoustic decoder: 50 Hz latent → 16 kHz waveform.

latent (B, N, 128) → 1×1 conv to d_model → causal RoPE transformer (50 Hz) → LayerNorm →
transposed conv ×2 to a 100 Hz, 128-channel coarse spectrogram → windowed-attention transformer
vocoder → ISTFT (n_fft 640, hop 160) → (B, 320 N) samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import check_at_least
from .istft import ISTFTHead
from .masks import length_mask
from .rotary import apply_rotary, rotary_tables
from .transformer import ROTARY_LAYOUT, Transformer, TransformerLayer


@dataclass(frozen=True)
class DecoderConfig:
    latent_dim: int = 128
    d_model: int = 1024
    heads: int = 16
    ffn: int = 4096
    layers: int = 24
    causal: bool = True  # causal 50 Hz attention, as released (the GroupNorm and vocoder still look ahead)
    n_mels: int = 128  # channels of the 100 Hz coarse spectrogram
    upsample_kernel: int = 3
    upsample_stride: int = 2
    vocoder_dim: int = 256
    vocoder_heads: int = 16
    vocoder_ffn: int = 1024
    vocoder_layers: int = 16
    # Each 100 Hz vocoder frame sees 400 ms of past and 100 ms of future.
    vocoder_window: tuple[int, int] = (40, 10)
    n_fft: int = 640
    hop_length: int = 160
    rope_theta: float = 10000.0

    def __post_init__(self):
        check_at_least(self, 1, "latent_dim", "d_model", "heads", "ffn", "layers", "n_mels", "upsample_stride",
                       "vocoder_dim", "vocoder_heads", "vocoder_ffn", "vocoder_layers", "hop_length")
        check_at_least(self, self.upsample_stride, "upsample_kernel")  # the upsampler trims kernel - stride
        check_at_least(self, self.hop_length, "n_fft")
        check_at_least(self, 1e-9, "rope_theta")
        for dim, heads in (("d_model", "heads"), ("vocoder_dim", "vocoder_heads")):
            if getattr(self, dim) % (2 * getattr(self, heads)):  # rotary positions rotate pairs of channels
                raise ValueError(f"{dim} ({getattr(self, dim)}) must be an even multiple of {heads} "
                                 f"({getattr(self, heads)})")
        if min(self.vocoder_window) < 0:
            raise ValueError(f"vocoder_window must hold two frame counts >= 0, got {self.vocoder_window}")

    @classmethod
    def base(cls) -> "DecoderConfig":
        """The released WavCube / WavCube-pro decoder."""
        return cls()

    @classmethod
    def tiny(cls) -> "DecoderConfig":
        return cls(d_model=32, heads=2, ffn=64, layers=2, n_mels=16, vocoder_dim=32, vocoder_heads=2,
                   vocoder_ffn=64, vocoder_layers=2)


@dataclass(frozen=True)
class DecoderCache:
    """What `WavCubeDecoder.extend` keeps of one clip's frames so far, to decode later frames exactly as a whole
    decode would (the 50 Hz transformer is causal; the upsampler's GroupNorm needs the sums of everything).

    Immutable: `extend` returns a new cache, so a prompt's cache can be shared by any number of continuations.
    """

    keys: tuple[torch.Tensor, ...]  # per layer (1, H, M, head_dim), before rotary: frames [frames - M, frames)
    values: tuple[torch.Tensor, ...]  # per layer (1, H, M, head_dim)
    hidden: torch.Tensor  # (K, d_model) the transformer's (final-LayerNorm'd) output for frames [frames - K, frames)
    sums: torch.Tensor  # float64 (3,): count, sum and sum of squares of the upsampler's pre-norm output so far
    frames: int  # frames seen

    @property
    def hidden_first(self) -> int:
        """Index of the first frame whose transformer output is kept."""
        return self.frames - self.hidden.shape[0]


class CausalUpsample(nn.Module):
    """Transposed conv (stride s, kernel k) + GroupNorm(1), right-trimmed by k - s: N → s·N frames.

    GroupNorm statistics are taken over each clip's own valid output only (the reference normalises
    a whole unpadded sequence), so padding in a batch does not move them.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int):
        super().__init__()
        if kernel < stride:
            raise ValueError(f"upsample kernel {kernel} must be >= stride {stride}")
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, kernel, stride)
        self.norm = nn.GroupNorm(1, out_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x: (B, N, C_in)` zero past `lengths` → `(B, s·N, C_out)`, new lengths `s·lengths`."""
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        y = self.conv(x.transpose(1, 2))  # (B, C_out, (N - 1)·s + k)
        full = (lengths - 1) * s + k  # untrimmed valid length of each clip
        m = length_mask(full, y.shape[-1])[:, None, :].to(y.dtype)  # (B, 1, L)
        count = m.sum(dim=(1, 2), keepdim=True) * y.shape[1]
        mean = (y * m).sum(dim=(1, 2), keepdim=True) / count
        var = ((y - mean).square() * m).sum(dim=(1, 2), keepdim=True) / count
        y = (y - mean) * torch.rsqrt(var + self.norm.eps)
        y = y * self.norm.weight[None, :, None] + self.norm.bias[None, :, None]
        out_lengths = lengths * s
        y = y[:, :, : int(out_lengths.max())].transpose(1, 2)  # (B, s·N, C_out)
        return y * length_mask(out_lengths, y.shape[1])[..., None], out_lengths

    def columns(self, x: torch.Tensor, previous: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One clip's frames `x: (n, C_in)` after `previous: (C_in,)` (None at the clip's start) → their
        `s·n` pre-norm output columns `(C_out, s·n)`, and the column past them `(C_out, k - s)` that only the
        clip's end adds (the whole-clip GroupNorm counts it)."""
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        if previous is not None:
            x = torch.cat([previous[None].to(x.dtype), x])
        y = self.conv(x.T[None])[0]  # (C_out, (n' - 1)·s + k)
        if previous is not None:
            y = y[:, s:]  # the previous frame's own columns
        n = y.shape[1] - (k - s)
        return y[:, :n], y[:, n:]

    def normalize(self, y: torch.Tensor, sums: torch.Tensor) -> torch.Tensor:
        """Pre-norm columns `y: (C_out, L)` → normalised `(L, C_out)` with the statistics in `sums`
        (count, sum, sum of squares over the clip's columns, as `forward` takes over the whole clip)."""
        count, total, squares = sums.unbind()
        mean = total / count
        var = (squares / count - mean.square()).clamp(min=0)
        y = (y.float() - mean.float()) * torch.rsqrt(var + self.norm.eps).float()
        return (y * self.norm.weight[:, None] + self.norm.bias[:, None]).T


def column_sums(y: torch.Tensor) -> torch.Tensor:
    """`y: (C, L)` → float64 (3,): the count, sum and sum of squares of its values."""
    y = y.double()
    return torch.stack([y.new_tensor(y.numel()), y.sum(), y.square().sum()])


class Vocoder(nn.Module):
    """Coarse spectrogram `(B, T, n_mels)` at 100 Hz → waveform `(B, T · hop)`."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        c = config
        self.embeddings = nn.Linear(c.n_mels, c.vocoder_dim, bias=False)
        self.transformer = Transformer(c.vocoder_dim, c.vocoder_heads, c.vocoder_ffn, c.vocoder_layers,
                                       causal=False, window=c.vocoder_window, rope_theta=c.rope_theta)
        self.layer_norm = nn.LayerNorm(c.vocoder_dim)
        self.head = ISTFTHead(c.vocoder_dim, c.n_fft, c.hop_length, padding="same")

    def forward(self, spec: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.layer_norm(self.transformer(self.embeddings(spec), mask))
        return self.head(x, mask)


class WavCubeDecoder(nn.Module):
    """`forward(latent: (B, N, latent_dim), mask: (B, N) | None) → wav: (B, N · samples_per_frame)`."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        c = config
        self.config = config
        self.input_proj = nn.Conv1d(c.latent_dim, c.d_model, kernel_size=1)
        self.transformer = Transformer(c.d_model, c.heads, c.ffn, c.layers, causal=c.causal,
                                       rope_theta=c.rope_theta)
        self.norm = nn.LayerNorm(c.d_model)
        self.upsample = CausalUpsample(c.d_model, c.n_mels, c.upsample_kernel, c.upsample_stride)
        self.vocoder = Vocoder(c)

    @property
    def samples_per_frame(self) -> int:
        return self.config.upsample_stride * self.config.hop_length

    def forward(self, latent: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = latent.shape
        if d != self.config.latent_dim:
            raise ValueError(f"latent has {d} channels, the decoder expects {self.config.latent_dim}")
        if mask is None:
            lengths = torch.full((b,), n, device=latent.device, dtype=torch.long)
        else:
            lengths = mask.sum(dim=1)
        x = self.input_proj(latent.transpose(1, 2)).transpose(1, 2)  # (B, N, d_model)
        x = self.norm(self.transformer(x, mask))
        if mask is not None:
            x = x * mask[..., None]  # padded frames must not leak into the upsampling conv
        spec, spec_lengths = self.upsample(x, lengths)  # (B, 2N, n_mels) at 100 Hz
        spec_mask = None if mask is None else length_mask(spec_lengths, spec.shape[1])
        return self.vocoder(spec, spec_mask)  # (B, 2N · hop)

    # Incremental decoding (codec/streaming.py): the transformer runs on new frames only, attending to the
    # cached keys and values of the frames before; the vocoder runs on a window of transformer outputs.

    def empty_cache(self) -> DecoderCache:
        """The cache of a clip with no frames yet."""
        p = next(self.parameters())
        empty = p.new_zeros(1, self.config.heads, 0, self.config.d_model // self.config.heads)
        layers = len(self.transformer.layers)
        return DecoderCache((empty,) * layers, (empty,) * layers, p.new_zeros(0, self.config.d_model),
                            torch.zeros(3, dtype=torch.float64, device=p.device), 0)

    def extend(self, cache: DecoderCache, latent: torch.Tensor, keep_hidden: int,
               max_keys: int | None = None) -> DecoderCache:
        """Run `latent: (n, latent_dim)`, the frames after `cache.frames`, through the causal transformer →
        the cache with them added. The new frames see every cached frame (at most `max_keys`: the oldest beyond
        are dropped, bounding memory), so the outputs are the whole decode's while nothing was dropped.
        `keep_hidden`: the transformer outputs kept (the newest), for `render`'s context."""
        if not self.config.causal:
            raise ValueError("incremental decoding needs the causal decoder (config.causal)")
        n = latent.shape[0]
        x = self.input_proj(latent.T[None]).transpose(1, 2)  # (1, n, d_model)
        c = self.config
        m = cache.keys[0].shape[2]
        cos, sin = rotary_tables(m + n, c.d_model // c.heads, ROTARY_LAYOUT, x.device, c.rope_theta)
        # Query i (position m + i) sees keys 0 .. m + i.
        allowed = torch.arange(m + n, device=x.device)[None, :] <= torch.arange(m, m + n, device=x.device)[:, None]
        keys, values = [], []
        layers = cast(list[TransformerLayer], list(self.transformer.layers))
        for layer, k_old, v_old in zip(layers, cache.keys, cache.values):
            attn = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            q, k, v = (p(h).view(1, n, c.heads, -1).transpose(1, 2)  # (1, H, n, head_dim)
                       for p in (attn.q_proj, attn.k_proj, attn.v_proj))
            k, v = torch.cat([k_old.to(k.dtype), k], dim=2), torch.cat([v_old.to(v.dtype), v], dim=2)  # (1, H, m+n, hd)
            keys.append(k)
            values.append(v)
            q = apply_rotary(q, cos[m:], sin[m:], ROTARY_LAYOUT)
            out = F.scaled_dot_product_attention(q, apply_rotary(k, cos, sin, ROTARY_LAYOUT), v, attn_mask=allowed)
            x = x + attn.out_proj(out.transpose(1, 2).reshape(1, n, c.d_model))
            x = x + layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(x))))
        hidden = self.norm(x)[0]  # (n, d_model)
        previous = cache.hidden[-1] if cache.hidden.shape[0] else None
        if previous is None and cache.frames:
            raise ValueError("the cache kept no transformer output to continue from (keep_hidden >= 1)")
        y, _ = self.upsample.columns(hidden, previous)
        if max_keys is not None and m + n > max_keys:
            keys, values = [k[:, :, -max_keys:] for k in keys], [v[:, :, -max_keys:] for v in values]
        hidden = torch.cat([cache.hidden.to(hidden.dtype), hidden])[max(0, cache.hidden.shape[0] + n - keep_hidden):]
        return DecoderCache(tuple(keys), tuple(values), hidden, cache.sums + column_sums(y), cache.frames + n)

    def render(self, cache: DecoderCache, start: int, end: int, final: bool) -> torch.Tensor:
        """Frames [start, end) → their waveform `((end - start) · samples_per_frame,)`, from the kept transformer
        outputs (those before `start` are the vocoder's context, those after `end` its look-ahead). The GroupNorm
        takes the statistics of every frame so far; with `final` (no frame will follow) also the clip's end, so
        that they are the whole clip's."""
        first = cache.hidden_first
        a = first + (1 if first > 0 else 0)  # the window's first frame: the kept one before it feeds the conv only
        if not a <= start <= end <= cache.frames:
            raise ValueError(f"frames [{start}, {end}) are not within the renderable [{a}, {cache.frames})")
        previous = cache.hidden[0] if first > 0 else None
        y, tail = self.upsample.columns(cache.hidden[a - first:], previous)  # (C, 2 W)
        sums = cache.sums + column_sums(tail) if final else cache.sums
        spec = self.upsample.normalize(y, sums)  # (2 W, n_mels)
        wav = self.vocoder(spec[None])[0]  # (W · samples_per_frame,)
        spf = self.samples_per_frame
        return wav[(start - a) * spf: (end - a) * spf]

