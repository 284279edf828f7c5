"""WavCube acoustic decoder: 50 Hz latent → 16 kHz waveform.

latent (B, N, 128) → 1×1 conv to d_model → causal RoPE transformer (50 Hz) → LayerNorm →
transposed conv ×2 to a 100 Hz, 128-channel coarse spectrogram → windowed-attention transformer
vocoder → ISTFT (n_fft 640, hop 160) → (B, 320 N) samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .checkpoint import check_at_least
from .istft import ISTFTHead
from .masks import length_mask
from .transformer import Transformer


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

