"""WavCube acoustic decoder: 50 Hz latent → 16 kHz waveform.

latent (B, N, 128) → 1×1 conv to d_model → causal RoPE transformer (50 Hz) → LayerNorm →
transposed conv ×2 to a 100 Hz, 128-channel coarse spectrogram → windowed-attention transformer
vocoder → ISTFT (n_fft 640, hop 160) → (B, 320 N) samples.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

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

    def extend(self, caches: Sequence[DecoderCache], latents: Sequence[torch.Tensor], keep_hidden: Sequence[int],
               max_keys: int | None = None) -> list[DecoderCache]:
        """Run each clip's frames `latents[i]: (n_i >= 1, latent_dim)`, those after `caches[i].frames`, through the
        causal transformer, all clips in one padded pass → each cache with them added. New frames see every cached
        frame of their clip (at most `max_keys`: older ones are dropped, bounding memory), so the outputs are the
        whole decode's while nothing was dropped. `keep_hidden[i]`: the newest transformer outputs kept, for
        `render`'s context."""
        if not self.config.causal:
            raise ValueError("incremental decoding needs the causal decoder (config.causal)")
        c, dev = self.config, latents[0].device
        ms = torch.tensor([cache.keys[0].shape[2] for cache in caches], device=dev)  # (B,) cached keys
        ns = torch.tensor([len(x) for x in latents], device=dev)  # (B,) new frames
        m, n = int(ms.max()), int(ns.max())
        x = self.input_proj(pad_sequence(list(latents), batch_first=True).transpose(1, 2)).transpose(1, 2)  # (B, n, d)
        # Key slots: each clip's cached frames in the first m (left-aligned), its new frames in the last n.
        # Positions: cached key j is at j, new frame t at m_i + t.
        cos, sin = rotary_tables(m + n, c.d_model // c.heads, ROTARY_LAYOUT, dev, c.rope_theta)  # (m + n, hd)
        t = torch.arange(n, device=dev)
        at_new = ms[:, None] + t[None]  # (B, n)
        at_key = torch.cat([torch.arange(m, device=dev).expand(len(ms), m), at_new], dim=1)  # (B, m + n)
        rope_q = (cos[at_new][:, None], sin[at_new][:, None])  # (B, 1, n, hd)
        rope_k = (cos[at_key][:, None], sin[at_key][:, None])  # (B, 1, m + n, hd)
        j = torch.arange(m + n, device=dev)[None, None, :]
        cached = j < ms[:, None, None]  # (B, 1, m + n): the clip's own cached frames
        new = (j >= m) & (j - m <= t[None, :, None]) & (j - m < ns[:, None, None])  # (B, n, m + n): causal
        allowed = (cached | new)[:, None]  # (B, 1, n, m + n); a padded query keeps new key 0 (n_i >= 1)
        keys: list[list[torch.Tensor]] = [[] for _ in caches]
        values: list[list[torch.Tensor]] = [[] for _ in caches]
        layers = cast(list[TransformerLayer], list(self.transformer.layers))
        for li, layer in enumerate(layers):
            attn = layer.self_attn
            h = layer.self_attn_layer_norm(x)
            q, k, v = (p(h).view(len(ms), n, c.heads, -1).transpose(1, 2)  # (B, H, n, head_dim)
                       for p in (attn.q_proj, attn.k_proj, attn.v_proj))
            k = torch.cat([_padded([cache.keys[li] for cache in caches], m, k.dtype), k], dim=2)  # (B, H, m + n, hd)
            v = torch.cat([_padded([cache.values[li] for cache in caches], m, v.dtype), v], dim=2)
            out = F.scaled_dot_product_attention(apply_rotary(q, *rope_q, ROTARY_LAYOUT),
                                                 apply_rotary(k, *rope_k, ROTARY_LAYOUT), v, attn_mask=allowed)
            x = x + attn.out_proj(out.transpose(1, 2).reshape(len(ms), n, c.d_model))
            x = x + layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(x))))
            for i, (mi, ni) in enumerate(zip(ms.tolist(), ns.tolist())):
                for kept, full in ((keys[i], k), (values[i], v)):
                    kept.append(torch.cat([full[i:i + 1, :, :mi], full[i:i + 1, :, m:m + ni]], dim=2)[
                        :, :, -(max_keys or mi + ni):])  # (1, H, m_i + n_i, hd), the oldest beyond max_keys dropped
        hidden = self.norm(x)  # (B, n, d_model)
        out_caches = []
        for i, (cache, ni, keep) in enumerate(zip(caches, ns.tolist(), keep_hidden)):
            if cache.frames and not cache.hidden.shape[0]:
                raise ValueError("the cache kept no transformer output to continue from (keep_hidden >= 1)")
            y, _ = self.upsample.columns(hidden[i, :ni], cache.hidden[-1] if cache.frames else None)
            kept_hidden = torch.cat([cache.hidden.to(hidden.dtype), hidden[i, :ni]])
            out_caches.append(DecoderCache(tuple(keys[i]), tuple(values[i]), kept_hidden[max(0, len(kept_hidden) - keep):],
                                           cache.sums + column_sums(y), cache.frames + ni))
        return out_caches

    def render(self, caches: Sequence[DecoderCache], starts: Sequence[int], ends: Sequence[int],
               finals: Sequence[bool]) -> list[torch.Tensor]:
        """Each clip's frames [starts[i], ends[i]) → their waveform `((end - start) · samples_per_frame,)`, from the
        kept transformer outputs (those before `start` are the vocoder's context, those after `end` its look-ahead),
        the vocoder running on all clips at once. The GroupNorm takes the statistics of every frame so far; with
        `finals[i]` (no frame will follow) also the clip's end, so that they are the whole clip's."""
        specs, firsts = [], []
        for cache, start, end, final in zip(caches, starts, ends, finals):
            first = cache.hidden_first
            a = first + (1 if first > 0 else 0)  # the window's first frame: the kept one before it feeds the conv only
            if not a <= start <= end <= cache.frames:
                raise ValueError(f"frames [{start}, {end}) are not within the renderable [{a}, {cache.frames})")
            y, tail = self.upsample.columns(cache.hidden[a - first:], cache.hidden[0] if first > 0 else None)
            specs.append(self.upsample.normalize(y, cache.sums + column_sums(tail) if final else cache.sums))
            firsts.append(a)
        lengths = torch.tensor([len(spec) for spec in specs], device=specs[0].device)  # (B,) 100 Hz frames
        mask = None if bool((lengths == lengths[0]).all()) else length_mask(lengths, int(lengths.max()))
        wav = self.vocoder(pad_sequence(specs, batch_first=True), mask)  # (B, T · hop)
        spf = self.samples_per_frame
        return [wav[i, (start - a) * spf: (end - a) * spf] for i, (start, end, a) in enumerate(zip(starts, ends, firsts))]


def _padded(tensors: list[torch.Tensor], length: int, dtype: torch.dtype) -> torch.Tensor:
    """Per-clip `(1, H, m_i, hd)` → `(B, H, length, hd)`, zero past each m_i."""
    out = tensors[0].new_zeros(len(tensors), tensors[0].shape[1], length, tensors[0].shape[3], dtype=dtype)
    for i, t in enumerate(tensors):
        out[i, :, : t.shape[2]] = t[0]
    return out

