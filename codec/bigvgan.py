"""F5-TTS's "bigvgan" mel type: BigVGAN's log-mel front end and NVIDIA's BigVGAN vocoder.

The front end is F5-TTS 1.1.22's `get_bigvgan_mel_spectrogram` (copied there from BigVGAN): librosa's Slaney mel
filters, frames of a reflect-padded signal (not centred: `T // hop` frames), magnitude `sqrt(re² + im² + 1e-9)`.
The vocoder is the `bigvgan` package's own model (the optional extra `cubetts[bigvgan]`), loaded as the package's
`BigVGAN.from_pretrained(folder, use_cuda_kernel=False)` loads it and used as F5-TTS uses it: weight norm removed,
eval, `vocoder(mel)`.
"""
from __future__ import annotations

import contextlib
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import CheckpointError

# NVIDIA's 24 kHz, 100-band, 256× release: the vocoder F5-TTS's F5TTS_Base_bigvgan was trained for.
DEFAULT_BIGVGAN = "nvidia/bigvgan_v2_24khz_100band_256x"
BIGVGAN_CONFIG = "config.json"
BIGVGAN_WEIGHTS = "bigvgan_generator.pt"
BIGVGAN_EXTRA = "pip install 'cubetts[bigvgan]'"
# config.json keys that say "a BigVGAN" (a WavCube's config.json has none of them).
_BIGVGAN_KEYS = ("upsample_rates", "resblock", "num_mels")


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """`librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)` (Slaney scale and area norm, 0 Hz to
    Nyquist), bit for bit: `(n_mels, n_fft // 2 + 1)` float32.

    Computed as librosa does, in float64 with its rounding to float32 before the norm. torchaudio's
    `melscale_fbanks(..., norm="slaney", mel_scale="slaney")` computes the same filters in float32: 4e-6 off
    relative to the largest weight, which moves F5-TTS's log-mel by up to 3e-5.
    """
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0  # linear below 1 kHz, log above
    min_log_mel = min_log_hz / f_sp
    top = sample_rate / 2
    max_mel = top / f_sp if top < min_log_hz else min_log_mel + math.log(top / min_log_hz) / logstep
    # numpy's linspace: start + i * step, the last point set to stop
    mels = torch.arange(n_mels + 2, dtype=torch.float64) * (max_mel / (n_mels + 1))
    mels[-1] = max_mel
    mel_f = torch.where(mels >= min_log_mel, min_log_hz * torch.exp(logstep * (mels - min_log_mel)), f_sp * mels)
    fft_f = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (1.0 / (n_fft * (1.0 / sample_rate)))  # rfftfreq
    fdiff = mel_f.diff()
    ramps = mel_f[:, None] - fft_f[None, :]  # (n_mels + 2, F)
    weights = torch.minimum(-ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]).clamp(min=0).float()
    enorm = 2.0 / (mel_f[2:] - mel_f[:-2])  # (n_mels,)
    return (weights.double() * enorm[:, None]).float()


class BigVGANMelSpectrogram(nn.Module):
    """BigVGAN's mel magnitude: `forward(wav: (T,) or (B, T)) -> (n_mels, T // hop)` or `(B, n_mels, T // hop)`.

    The signal is reflect-padded by `(n_fft - hop) // 2` on each side and framed without centring, so frame i
    covers samples `[i hop - pad, i hop - pad + n_fft)`. The log (of the clamp at F5-TTS's 1e-5) is the codec's.
    """

    window: torch.Tensor
    filters: torch.Tensor

    def __init__(self, sample_rate: int, n_fft: int, win_length: int, hop_length: int, n_mels: int):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.pad = (n_fft - hop_length) // 2
        # Reflect padding needs more samples than it pads, and one frame needs n_fft samples after padding.
        self.min_samples = max(self.pad + 1, n_fft - 2 * self.pad)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.register_buffer("filters", slaney_mel_filters(sample_rate, n_fft, n_mels), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        batched = wav.dim() == 2
        x = nn.functional.pad(wav.reshape(-1, 1, wav.shape[-1]), (self.pad, self.pad), mode="reflect")  # (B, 1, T')
        spec = torch.stft(x[:, 0], self.n_fft, self.hop_length, self.win_length, self.window, center=False,
                          normalized=False, onesided=True, return_complex=True)  # (B, F, N)
        magnitude = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)  # (B, F, N)
        mel = torch.matmul(self.filters, magnitude)  # (B, n_mels, N)
        return mel if batched else mel[0]


class BigVGANVocoder(nn.Module):
    """A `bigvgan.BigVGAN` as `forward(log_mel: (B, n_mels, N)) -> wav: (B, hop N)`: exactly hop samples a frame
    (each transposed convolution upsamples by its rate, and the rates multiply to the hop)."""

    mel_type = "bigvgan"
    bigvgan: Any  # a bigvgan.BigVGAN (imported only when one is loaded)

    def __init__(self, bigvgan: nn.Module):
        super().__init__()
        self.bigvgan = bigvgan

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.bigvgan(log_mel)[:, 0]  # (B, 1, hop N) → (B, hop N)

    def output_hops(self, frames: int) -> int:
        """Hops of audio made of `frames` frames: as many."""
        return frames

    @property
    def reach(self) -> tuple[int, int]:
        """Frames (back, ahead) of input that one output frame depends on, a bound from the kernels: conv_pre's,
        each stage's transposed convolution and widest residual block (dilated convolutions, each after an
        anti-aliased activation), the last activation and conv_post, each at its stage's sample rate. A window of
        the latent with this much around a frame decodes it exactly as a whole decode does."""
        h = self.bigvgan.h
        act = 6  # Activation1d: ×2 up and back down through 12-tap filters, ±3 samples each, at the stage's rate
        back = ahead = 3.0  # conv_pre: 7 taps at the frame rate
        rate = 1  # samples a frame at the current stage
        for u, k in zip(h.upsample_rates, h.upsample_kernel_sizes):
            rate *= u
            pad = (k - u) // 2
            back, ahead = back + (k - 1 - pad) / rate, ahead + pad / rate
            # AMPBlock1: activation, dilated conv, activation, conv; AMPBlock2: activation, dilated conv.
            block = max(sum(act + (ks - 1) // 2 * d + (act + (ks - 1) // 2 if h.resblock == "1" else 0) for d in ds)
                        for ks, ds in zip(h.resblock_kernel_sizes, h.resblock_dilation_sizes))
            back, ahead = back + block / rate, ahead + block / rate
        tail = (act + 3) / rate  # activation_post, conv_post (7 taps)
        return math.ceil(back + tail) + 1, math.ceil(ahead + tail) + 1  # + 1: a frame's samples span a frame


def is_bigvgan(root: Path) -> bool:
    """Whether `root` holds a BigVGAN's config.json (its weights are checked on load)."""
    try:
        hparams = json.loads((root / BIGVGAN_CONFIG).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(hparams, dict) and all(k in hparams for k in _BIGVGAN_KEYS)


def bigvgan_mel_fields(hparams: dict, where: str) -> dict:
    """The MelConfig fields (less the mel type) of the mel a BigVGAN was trained on, which must be F5-TTS's
    (0 Hz to Nyquist: F5-TTS computes it so whatever the vocoder's config says) and framed by its upsampling."""
    names = {"sampling_rate": "sample_rate", "num_mels": "n_mels", "n_fft": "n_fft", "win_size": "win_length",
             "hop_size": "hop_length"}
    missing = [k for k in (*names, "upsample_rates") if k not in hparams]
    if missing:
        raise CheckpointError(f"{where}: a BigVGAN config needs {', '.join(missing)}")
    rates = hparams["upsample_rates"]
    if not (isinstance(rates, list) and rates and all(isinstance(r, int) and r > 0 for r in rates)):
        raise CheckpointError(f"{where}: upsample_rates must be a list of positive whole numbers, got {rates!r}")
    sample_rate = hparams["sampling_rate"]
    if hparams.get("fmin", 0) != 0 or hparams.get("fmax") not in (None, sample_rate / 2):
        raise CheckpointError(f"{where}: the BigVGAN was trained on mels from {hparams.get('fmin', 0)} to "
                              f"{hparams.get('fmax')} Hz; F5-TTS's bigvgan mel (MelCodec's) spans 0 Hz to Nyquist")
    if math.prod(rates) != hparams["hop_size"]:
        raise CheckpointError(f"{where}: upsample_rates {rates} multiply to {math.prod(rates)} samples a frame, "
                              f"but hop_size is {hparams['hop_size']}")
    return {ours: hparams[theirs] for theirs, ours in names.items()}


def load_bigvgan(root: Path) -> tuple[dict, BigVGANVocoder]:
    """A BigVGAN folder in its hub layout (`config.json` + `bigvgan_generator.pt` holding `{"generator": state}`)
    → (the MelConfig fields of its mel, the vocoder on the CPU), as F5-TTS loads it: the `bigvgan` package's
    model, weight norm removed, eval. Without the package an ImportError says how to get it.

    The package's own `BigVGAN.from_pretrained` does what this does (with a looser `torch.load`), but fails under
    huggingface_hub 1.x, which no longer passes it the `proxies` and `resume_download` it requires.
    """
    try:
        from bigvgan import BigVGAN
        from bigvgan.env import AttrDict
    except ImportError as err:
        raise ImportError(f"{root} is a BigVGAN vocoder (F5-TTS's bigvgan mel type), which needs the `bigvgan` "
                          f"package: {BIGVGAN_EXTRA}") from err
    from .checkpoint import load_strict

    if not (root / BIGVGAN_WEIGHTS).is_file():
        raise CheckpointError(f"{root} holds a BigVGAN {BIGVGAN_CONFIG} but no {BIGVGAN_WEIGHTS}")
    hparams = json.loads((root / BIGVGAN_CONFIG).read_text())
    fields = bigvgan_mel_fields(hparams, str(root / BIGVGAN_CONFIG))
    checkpoint = torch.load(root / BIGVGAN_WEIGHTS, map_location="cpu", weights_only=True)
    state = checkpoint.get("generator") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{root / BIGVGAN_WEIGHTS} holds no generator state (a dict under 'generator')")
    # The package reports its steps with print(): to stderr, so that stdout stays the caller's.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        # The package builds with torch.nn.utils.weight_norm, which torch marks deprecated; its keys are the file's.
        warnings.filterwarnings("ignore", "`torch.nn.utils.weight_norm` is deprecated", FutureWarning)
        try:
            model = BigVGAN(AttrDict(hparams), use_cuda_kernel=False)
        except (KeyError, AttributeError, TypeError, ValueError, NotImplementedError) as err:
            raise CheckpointError(f"{root / BIGVGAN_CONFIG}: not a BigVGAN config the `bigvgan` package builds: "
                                  f"{type(err).__name__}: {err}") from None
        with_weight_norm = any(k.endswith("weight_g") for k in state)
        if not with_weight_norm:  # saved after removing it, as the package's loader also accepts
            model.remove_weight_norm()
        load_strict(model, state, str(root))
        if with_weight_norm:
            model.remove_weight_norm()
    return fields, BigVGANVocoder(model.eval())
