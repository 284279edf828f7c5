"""MelCodec: F5-TTS's 100-bin log-mel at 24 kHz as the latent, of either of its mel types: "vocos" (a Vocos vocoder,
or Griffin-Lim, to hear it) or "bigvgan" (BigVGAN's front end and vocoder, codec/bigvgan.py)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torchaudio
import torchaudio.functional as AF
import yaml
from torch import nn

from .audio import MIN_SAMPLE_RATE, checked_latent, prepare_clips
from .bigvgan import BIGVGAN_CONFIG, BIGVGAN_WEIGHTS, BigVGANMelSpectrogram, BigVGANVocoder, is_bigvgan, load_bigvgan
from .checkpoint import CheckpointError, check_at_least, config_from_dict, fetch
from .masks import length_mask
from .spec import MEL_TYPES, CodecSpec

DEFAULT_VOCOS = "charactr/vocos-mel-24khz"
# The source that names the Griffin-Lim decoder in a CodecSpec and on command lines.
GRIFFIN_LIM = "griffin-lim"
VOCOS_CONFIG = "config.yaml"
VOCOS_WEIGHTS = "pytorch_model.bin"
_MEL_FEATURES = "vocos.feature_extractors.MelSpectrogramFeatures"
# Frames (back, ahead) a streamed decode gives a vocoder that states no `reach` of its own: a margin, not a proof.
DEFAULT_REACH = (64, 64)


@dataclass(frozen=True)
class MelConfig:
    """F5-TTS's mel front end. `mel_type` is F5-TTS's `mel_spec_type`: "vocos" (torchaudio's centred HTK mel, no
    filter norm: `T // hop + 1` frames) or "bigvgan" (BigVGAN's Slaney mel of a reflect-padded signal, not centred:
    `T // hop` frames; codec/bigvgan.py). A model trained on one cannot be heard through the other's vocoder."""

    sample_rate: int = 24000
    n_mels: int = 100
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    floor: float = 1e-5  # F5-TTS clamps here before the log, for both types; vocos's own feature extractor uses 1e-7
    mel_type: str = "vocos"

    def __post_init__(self):
        if self.mel_type not in MEL_TYPES:
            raise ValueError(f"unknown mel_type {self.mel_type!r}; choose one of {MEL_TYPES}")
        check_at_least(self, MIN_SAMPLE_RATE, "sample_rate")
        check_at_least(self, 1, "n_mels", "hop_length")
        check_at_least(self, 2, "n_fft")
        check_at_least(self, self.hop_length, "win_length")
        if self.win_length > self.n_fft or not self.floor > 0:
            raise ValueError(f"win_length ({self.win_length}) must be at most n_fft ({self.n_fft}) and floor "
                             f"positive (got {self.floor})")


class VocosVocoder(nn.Module):
    """A `vocos.Vocos` as `forward(log_mel: (B, n_mels, N)) -> wav: (B, hop N)`.

    Vocos's own `decode` runs under inference_mode; this calls its backbone and head directly, so
    decoding can sit inside a training loss.
    """

    mel_type = "vocos"
    vocos: Any  # a vocos.Vocos (imported only when one is loaded)

    def __init__(self, vocos: nn.Module):
        super().__init__()
        self.vocos = vocos

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.vocos.head(self.vocos.backbone(log_mel))

    @property
    def reach(self) -> tuple[int, int]:
        """Frames (back, ahead) of input that one output frame depends on: the ConvNeXt's convolutions (a
        VocosBackbone: its embedding and each block's depthwise conv) plus the ISTFT's overlapping windows.
        A window of the latent with this much around a frame decodes it exactly as a whole decode does."""
        backbone, istft = self.vocos.backbone, self.vocos.head.istft
        convs = [backbone.embed] + [block.dwconv for block in getattr(backbone, "convnext", [])]
        if not hasattr(backbone, "convnext"):  # another backbone: a margin, not a proof
            return DEFAULT_REACH
        conv = sum(c.kernel_size[0] // 2 for c in convs)
        hop, win = istft.hop_length, istft.win_length
        pad = (win - hop) // 2 if istft.padding == "same" else win // 2
        back = -(-(win - pad) // hop) - 1  # earlier frames whose window reaches this frame's samples
        ahead = (pad + hop - 1) // hop  # later frames whose window starts inside them
        return conv + back, conv + ahead

    def output_hops(self, frames: int) -> int:
        """Hops of audio made of `frames` frames: one fewer for a centred ISTFT (Vocos's mel-24khz), as many for
        "same" padding."""
        istft = getattr(self.vocos.head, "istft", None)
        return frames if getattr(istft, "padding", "center") == "same" else max(0, frames - 1)


class GriffinLim(nn.Module):
    """The low-quality fallback vocoder: exp of the log-mel → linear magnitude (pseudo-inverse of the
    mel filterbank, clipped at 0) → `n_iter` Griffin-Lim iterations from zero phase (deterministic).

    `forward(log_mel: (B, n_mels, N)) -> wav: (B, hop N)`. Of the "vocos" mel type only.
    """

    mel_type = "vocos"
    inverse_fb: torch.Tensor
    window: torch.Tensor
    # Every iteration spreads a frame's influence by the STFT's overlap, so the reach is 64 × 3 frames in principle;
    # measured (eval/bench_streaming.py), 64 frames each way already give the whole decode within 5e-5 (relative L2).
    reach = (64, 64)

    def __init__(self, config: MelConfig, n_iter: int = 64):
        super().__init__()
        if n_iter < 1:
            raise ValueError(f"n_iter must be at least 1, got {n_iter}")
        if config.mel_type != self.mel_type:
            raise ValueError(f"Griffin-Lim inverts the vocos mel type only, not {config.mel_type!r}")
        self.config = config
        self.n_iter = n_iter
        fb = AF.melscale_fbanks(config.n_fft // 2 + 1, 0.0, config.sample_rate / 2, config.n_mels,
                                config.sample_rate, None, "htk")  # (F, n_mels)
        self.register_buffer("inverse_fb", torch.linalg.pinv(fb.T), persistent=False)  # (F, n_mels)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        c = self.config
        magnitude = (self.inverse_fb @ log_mel.float().exp()).clamp(min=0.0)  # (B, F, N)
        # A centred STFT of (N - 1) hop samples has N frames; the last hop is left silent.
        wav = AF.griffinlim(magnitude, self.window, c.n_fft, c.hop_length, c.win_length, 1.0, self.n_iter,
                            0.99, (log_mel.shape[-1] - 1) * c.hop_length, False)  # (B, hop (N - 1))
        return torch.nn.functional.pad(wav, (0, c.hop_length))

    def output_hops(self, frames: int) -> int:
        """Hops of audio made of `frames` frames (before the silent last one): one fewer."""
        return max(0, frames - 1)


class MelCodec(nn.Module):
    """Speech ↔ F5-TTS's log-mel (100 bins, 93.75 Hz at 24 kHz), of the vocoder's mel type.

    >>> codec = MelCodec.from_pretrained()            # Vocos "charactr/vocos-mel-24khz"
    >>> codec = MelCodec.from_pretrained("nvidia/bigvgan_v2_24khz_100band_256x")  # needs cubetts[bigvgan]
    >>> codec = MelCodec.griffin_lim()                # no weights needed; low quality
    >>> latent, mask = codec.encode(wav, sample_rate)  # (B, N, 100), (B, N) bool; N = samples // 256 (+ 1 for vocos)
    >>> wav24k = codec.decode(latent, mask)           # (B, 256 N) at 24 kHz
    """

    kind = "mel"

    def __init__(self, config: MelConfig, vocoder: VocosVocoder | GriffinLim | BigVGANVocoder,
                 source: str | None = None, subfolder: str | None = None, revision: str | None = None):
        super().__init__()
        if vocoder.mel_type != config.mel_type:
            raise ValueError(f"a {vocoder.mel_type} vocoder cannot hear the {config.mel_type} mel type")
        self.config = config
        self.mel: nn.Module
        if config.mel_type == "bigvgan":
            mel = BigVGANMelSpectrogram(config.sample_rate, config.n_fft, config.win_length, config.hop_length,
                                        config.n_mels)
            self.mel, self._min_samples = mel, mel.min_samples
        else:
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=config.sample_rate, n_fft=config.n_fft, win_length=config.win_length,
                hop_length=config.hop_length, n_mels=config.n_mels, power=1.0, center=True, normalized=False,
                norm=None)
            self._min_samples = config.n_fft // 2 + 1  # centring reflect-pads by n_fft // 2
        self.vocoder = vocoder
        # Where the vocoder came from, for `spec()`; None for one built in memory.
        self.source, self.subfolder, self.revision = source, subfolder, revision

    sample_rate = property(lambda self: self.config.sample_rate)
    latent_dim = property(lambda self: self.config.n_mels)
    hop_length = property(lambda self: self.config.hop_length)
    frame_rate = property(lambda self: self.config.sample_rate / self.config.hop_length)
    mel_type = property(lambda self: self.config.mel_type)

    @property
    def device(self) -> torch.device:
        return next(self.mel.buffers()).device

    @property
    def context_frames(self) -> int:
        """Frames before the first decoded one that a shortened or streamed decode (codec/streaming.py) gives
        the vocoder: its reach back."""
        return getattr(self.vocoder, "reach", DEFAULT_REACH)[0]

    @property
    def lookahead_frames(self) -> int:
        """Frames after the last emitted one that a streamed decode waits for: the vocoder's reach ahead."""
        return getattr(self.vocoder, "reach", DEFAULT_REACH)[1]

    @classmethod
    def griffin_lim(cls, config: MelConfig = MelConfig(), n_iter: int = 64) -> "MelCodec":
        """The mel codec with a Griffin-Lim decoder: for when no Vocos weights can be had. Intelligible but
        phasey; do not judge a model by it."""
        return cls(config, GriffinLim(config, n_iter), source=GRIFFIN_LIM).eval()

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | os.PathLike = DEFAULT_VOCOS, subfolder: str | None = None,
                        revision: str | None = None, device: str | torch.device = "cpu") -> "MelCodec":
        """A mel vocoder in its hub layout, a local folder first, else a hub repo id (downloaded once into the HF
        cache): a Vocos (`config.yaml` + `pytorch_model.bin`: the "vocos" mel type) or a BigVGAN (`config.json` +
        `bigvgan_generator.pt`, e.g. "nvidia/bigvgan_v2_24khz_100band_256x": the "bigvgan" mel type, loaded by
        the `bigvgan` package, `pip install 'cubetts[bigvgan]'`)."""
        root = fetch(path_or_repo_id, "mel vocoder", subfolder, revision,
                     [VOCOS_CONFIG, VOCOS_WEIGHTS, BIGVGAN_CONFIG, BIGVGAN_WEIGHTS])
        vocoder: VocosVocoder | BigVGANVocoder
        if (root / VOCOS_CONFIG).is_file() and (root / VOCOS_WEIGHTS).is_file():
            config, vocoder = _load_vocos(root)
        elif is_bigvgan(root):
            fields, vocoder = load_bigvgan(root)
            config = config_from_dict(MelConfig, {**asdict(MelConfig()), **fields, "mel_type": "bigvgan"},
                                      str(root / BIGVGAN_CONFIG))
        else:
            raise CheckpointError(f"{root} holds neither {VOCOS_CONFIG} + {VOCOS_WEIGHTS} (a Vocos vocoder) nor "
                                  f"{BIGVGAN_CONFIG} + {BIGVGAN_WEIGHTS} (a BigVGAN vocoder)")
        source = str(Path(path_or_repo_id).expanduser().resolve()) if Path(path_or_repo_id).expanduser().exists() \
            else str(path_or_repo_id)
        return cls(config, vocoder, source, subfolder, revision).to(device).eval()

    def spec(self) -> CodecSpec:
        """The record a TTS checkpoint keeps of this codec."""
        if self.source is None:
            raise ValueError("this MelCodec was built in memory, not by from_pretrained or griffin_lim: it has no "
                             "source to record")
        return CodecSpec("mel", self.source, self.latent_dim, self.frame_rate, self.subfolder, self.revision,
                         self.mel_type)

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor | Sequence[torch.Tensor],
               sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform(s) at any rate → `(latent: (B, N, 100) float32, mask: (B, N) bool, True = valid)`.

        Accepted: as `WavCube.encode`. Each clip is transformed alone (no padding reaches its edge
        frames), so a batch gives what each clip gives by itself.
        """
        c = self.config
        clips = prepare_clips(wav, sample_rate, c.sample_rate, min_seconds=self._min_samples / c.sample_rate)
        mels = [self.mel(clip.to(self.device)).clamp(min=c.floor).log().T for clip in clips]  # [(N_i, n_mels)]
        lengths = torch.tensor([m.shape[0] for m in mels], device=self.device)
        latent = torch.nn.utils.rnn.pad_sequence(mels, batch_first=True)  # (B, N, n_mels)
        return latent, length_mask(lengths, latent.shape[1])

    def vocoder_samples(self, frames: int) -> int:
        """Samples the vocoder itself makes of `frames` frames (`decode` pads them to `hop × frames`): one hop
        fewer for a centred ISTFT (Vocos's mel-24khz, Griffin-Lim), as many for one with "same" padding and for
        BigVGAN."""
        return self.vocoder.output_hops(frames) * self.hop_length

    def decode(self, latent: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`latent: (B, N, 100)` or `(N, 100)`, `mask: (B, N)` → `wav: (B, 256 N)` at 24 kHz, zero past each clip.

        Each clip is vocoded on its valid frames only, so padding never reaches its audio. Not under
        inference_mode (Vocos's own decode is), so it can sit inside a training loss.
        """
        latent = checked_latent(latent, mask, self.latent_dim)
        B, N, _ = latent.shape
        hop = self.hop_length
        lengths = [N] * B if mask is None else mask.sum(1).tolist()
        latent = latent.to(self.device, torch.float32)
        if latent.is_inference():  # straight from encode(): autograd cannot record inference tensors
            latent = latent.clone()
        wav = latent.new_zeros(B, N * hop)
        for i, n in enumerate(lengths):
            if n:
                out = self.vocoder(latent[i:i + 1, :n].transpose(1, 2))[0]  # (n_mels, n) → (≈ hop n,)
                wav[i, : min(out.shape[0], n * hop)] = out[: n * hop]
        return wav


def _load_vocos(root: Path) -> tuple[MelConfig, VocosVocoder]:
    """A Vocos folder (`config.yaml` + `pytorch_model.bin`) → (the mel it was trained on, the vocoder on the CPU)."""
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    from .checkpoint import load_strict

    hparams = yaml.safe_load((root / VOCOS_CONFIG).read_text())
    config = _mel_config(hparams, root)
    # config.yaml names the classes to build: only vocos's own may be imported.
    parts = {}
    for name in ("feature_extractor", "backbone", "head"):
        spec = hparams.get(name) or {}
        if not str(spec.get("class_path", "")).startswith("vocos."):
            raise CheckpointError(f"{root / VOCOS_CONFIG}: {name}.class_path must name a vocos class, "
                                  f"got {spec.get('class_path')!r}")
        parts[name] = instantiate_class(args=(), init=spec)
    vocos = Vocos(**parts)
    state = torch.load(root / VOCOS_WEIGHTS, map_location="cpu", weights_only=True)
    load_strict(vocos, state, str(root))
    return config, VocosVocoder(vocos)


def _mel_config(hparams: dict, root: Path) -> MelConfig:
    """The front end a Vocos was trained on, which must be F5-TTS's kind of mel (centred STFT)."""
    fe = hparams.get("feature_extractor") or {}
    if fe.get("class_path") != _MEL_FEATURES:
        raise CheckpointError(f"{root / VOCOS_CONFIG}: MelCodec needs a mel Vocos (feature_extractor "
                              f"{_MEL_FEATURES}), got {fe.get('class_path')!r}")
    args = fe.get("init_args") or {}
    if args.get("padding", "center") != "center":
        raise CheckpointError(f"{root / VOCOS_CONFIG}: the Vocos was trained on {args['padding']!r}-padded mels; "
                              f"MelCodec computes centred ones (padding 'center')")
    # Vocos's own defaults for the fields its file leaves out are ours; every field is checked.
    fields = {k: args[k] for k in ("sample_rate", "n_mels", "n_fft", "hop_length") if k in args}
    fields["win_length"] = fields.get("n_fft", MelConfig.n_fft)
    config = config_from_dict(MelConfig, {**asdict(MelConfig()), **fields}, str(root / VOCOS_CONFIG))
    channels = (hparams.get("backbone") or {}).get("init_args", {}).get("input_channels")
    if channels != config.n_mels:
        raise CheckpointError(f"{root / VOCOS_CONFIG}: backbone input_channels {channels} != n_mels {config.n_mels}")
    return config
