"""WavCube: the public codec API (encode, decode, save, load)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from . import windows
from .audio import MIN_SAMPLE_RATE, checked_latent, prepare_clips
from .checkpoint import (CONFIG_NAME, WEIGHTS_NAME, config_from_dict, convert_released_state_dict, load_strict,
                         read_model_config, read_released, read_safetensors, resolve, save_model)
from .decoder import DecoderCache, DecoderConfig, WavCubeDecoder
from .encoder import EncoderConfig, WavCubeEncoder, normalize_clips
from .spec import CodecSpec
from .masks import length_mask
from .windows import decode_windows, encode_windows

MODEL_TYPE = "wavcube"
DEFAULT_WAVCUBE = "yhaha/WavCube"  # the released checkpoints on the Hugging Face Hub
DEFAULT_WAVCUBE_SUBFOLDER = "WavCube"  # or "WavCube-Pro"
WAVLM_FIELD = 400  # samples under WavLM's first frame (25 ms); later frames start every 320 samples
# The full-size vocoder's 16 attention layers reach 321 frames back and 81 ahead (+1 for the ISTFT's overlap);
# measured (eval/bench_streaming.py, random weights), 160 back and 20 ahead already give a whole decode's samples
# within float rounding (8e-7 relative L2), at half the vocoder work of the full reach per push.
STREAM_CONTEXT_CAP = 160
STREAM_LOOKAHEAD_CAP = 20


@dataclass(frozen=True)
class WavCubeConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    sample_rate: int = 16000

    @classmethod
    def base(cls) -> "WavCubeConfig":
        """The released WavCube / WavCube-pro architecture (WavLM-Large encoder, 24-layer decoder)."""
        return cls()

    @classmethod
    def tiny(cls) -> "WavCubeConfig":
        """A few-thousand-parameter model with the full structure, for tests."""
        return cls(encoder=EncoderConfig.tiny(), decoder=DecoderConfig.tiny())

    def to_dict(self) -> dict:
        return asdict(self)

    def __post_init__(self):
        if self.sample_rate < MIN_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be at least {MIN_SAMPLE_RATE}, got {self.sample_rate}")
        if self.encoder.latent_dim != self.decoder.latent_dim:
            raise ValueError(f"encoder.latent_dim ({self.encoder.latent_dim}) and decoder.latent_dim "
                             f"({self.decoder.latent_dim}) differ")

    @classmethod
    def from_dict(cls, d: dict, where: str = "codec config") -> "WavCubeConfig":
        """Every field checked (`config_from_dict`); ConfigError names `where` and the field."""
        return config_from_dict(cls, d, where)


class WavCube(nn.Module):
    """Speech ↔ 128-d latent at 50 Hz.

    >>> codec = WavCube.from_pretrained("path/or/hub-id")
    >>> latent, mask = codec.encode(wav, sample_rate)   # (B, N, 128), (B, N) bool
    >>> wav16k = codec.decode(latent, mask)             # (B, 320 N) at 16 kHz
    """

    kind = "wavcube"

    def __init__(self, config: WavCubeConfig):
        super().__init__()
        if config.decoder.latent_dim != config.encoder.latent_dim:
            raise ValueError("encoder and decoder latent_dim differ")
        self.config = config
        self.encoder = WavCubeEncoder(config.encoder)
        self.decoder = WavCubeDecoder(config.decoder)
        # bf16 autocast is used on CUDA only; the ISTFT always runs in float32.
        self.bf16 = True
        # Where the weights came from (set by from_pretrained), for `spec()`.
        self.source: str | None = None
        self.subfolder: str | None = None
        self.revision: str | None = None

    sample_rate = property(lambda self: self.config.sample_rate)
    latent_dim = property(lambda self: self.config.encoder.latent_dim)
    hop_length = property(lambda self: self.decoder.samples_per_frame)
    frame_rate = property(lambda self: self.config.sample_rate / self.decoder.samples_per_frame)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def context_frames(self) -> int:
        """Frames before the first decoded one that a shortened or streamed decode (codec/streaming.py) gives the
        vocoder: its attention's reach back (each layer 40 frames at 100 Hz), at most `STREAM_CONTEXT_CAP`."""
        c = self.config.decoder
        return min(STREAM_CONTEXT_CAP, -(-c.vocoder_layers * c.vocoder_window[0] // c.upsample_stride) + 1)

    @property
    def lookahead_frames(self) -> int:
        """Frames after the last emitted one that a streamed decode waits for: the vocoder's reach ahead (each
        layer 10 frames at 100 Hz), at most `STREAM_LOOKAHEAD_CAP`."""
        c = self.config.decoder
        return min(STREAM_LOOKAHEAD_CAP, -(-c.vocoder_layers * c.vocoder_window[1] // c.upsample_stride) + 1)

    def spec(self) -> CodecSpec:
        """The record a TTS checkpoint keeps of this codec."""
        if self.source is None:
            raise ValueError("this WavCube was built in memory, not by from_pretrained: it has no source to record")
        return CodecSpec("wavcube", self.source, self.latent_dim, self.frame_rate, self.subfolder, self.revision)

    def _autocast(self):
        if self.device.type == "cuda" and self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(
        self, wav: torch.Tensor | Sequence[torch.Tensor], sample_rate: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Any accepted input → `(wav: (B, T) at 16 kHz, zero-padded, lengths: (B,))` on the model's device.

        Accepted: `(T,)` one mono clip; `(B, T)` a batch of mono clips; `(B, C, T)` a batch of
        C-channel clips (downmixed); a list of `(T,)` or `(C, T)` clips of any lengths.
        """
        out = prepare_clips(wav, sample_rate, self.sample_rate, min_seconds=WAVLM_FIELD / self.sample_rate)
        lengths = torch.tensor([len(c) for c in out])
        batch = torch.nn.utils.rnn.pad_sequence(out, batch_first=True)  # (B, T_max)
        return batch.to(self.device), lengths.to(self.device)

    @torch.inference_mode()
    def encode(
        self, wav: torch.Tensor | Sequence[torch.Tensor], sample_rate: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform(s) at any rate → `(latent: (B, N, 128) float32, mask: (B, N) bool, True = valid)`."""
        batch, lengths = self.prepare(wav, sample_rate)
        frames = self.encoder.num_frames(lengths)
        with self._autocast():
            if int(frames.max()) <= windows.WINDOW_FRAMES:
                latent, mask = self.encoder(batch, lengths)
            else:  # long audio: window by window (codec/windows.py), memory bounded by a window
                latent, mask = self._encode_long(batch, lengths, frames)
        return latent.float(), mask

    def _encode_long(self, batch: torch.Tensor, lengths: torch.Tensor,
                     frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = torch.zeros(len(batch), int(frames.max()), self.latent_dim, device=batch.device)
        for i in range(len(batch)):
            wav = batch[i: i + 1, : int(lengths[i])]  # (1, T_i)
            if self.config.encoder.normalize_input:  # the whole clip's statistics, as one pass would use
                wav = normalize_clips(wav, lengths[i: i + 1])

            def encode(piece: torch.Tensor) -> torch.Tensor:
                lengths = torch.tensor([piece.shape[1]], device=piece.device)
                return self.encoder(piece, lengths, normalize=False)[0]

            latent[i, : int(frames[i])] = encode_windows(encode, wav[0], int(frames[i]), self.hop_length,
                                                         WAVLM_FIELD)
        return latent, length_mask(frames, latent.shape[1])

    def decode(self, latent: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`latent: (B, N, 128)` or `(N, 128)`, `mask: (B, N)` → `wav: (B, 320 N)` at 16 kHz, zero past each clip.

        Not under inference_mode, so it can sit inside a training loss; wrap it in `torch.no_grad()`
        when decoding for listening.
        """
        latent = checked_latent(latent, mask, self.latent_dim)
        latent = latent.to(self.device, torch.float32)
        mask = None if mask is None else mask.to(self.device, torch.bool)
        if latent.is_inference():  # straight from encode(): autograd cannot record inference tensors
            latent, mask = latent.clone(), None if mask is None else mask.clone()
        with self._autocast():
            if latent.shape[1] <= windows.WINDOW_FRAMES:
                return self.decoder(latent, mask).float()
            # long latents: window by window (codec/windows.py), memory bounded by a window
            lengths = mask.sum(1) if mask is not None else torch.full((len(latent),), latent.shape[1])
            spf = self.hop_length
            wav = torch.zeros(len(latent), latent.shape[1] * spf, device=latent.device)
            for i, n in enumerate(lengths.tolist()):
                wav[i, : n * spf] = decode_windows(lambda piece: self.decoder(piece).float(), latent[i, :n], spf)
            return wav

    # Incremental decoding (codec/streaming.py): the decoder's cache of the frames so far, extended by new frames
    # and rendered a window at a time.

    def extend_cache(self, caches: Sequence[DecoderCache | None], latents: Sequence[torch.Tensor],
                     keep_hidden: Sequence[int]) -> list[DecoderCache]:
        """Each clip's `latents[i]: (n_i, 128)`, the frames after those in `caches[i]` (None: a clip's first) →
        its cache with them added (`WavCubeDecoder.extend`, the clips in one pass); keys beyond
        `windows.WINDOW_FRAMES` frames back are dropped, as a whole decode past that length works in windows."""
        out = [self.decoder.empty_cache() if cache is None else cache for cache in caches]
        todo = [i for i, x in enumerate(latents) if not (x.dim() == 2 and x.shape[0] == 0)]
        if todo:
            new = [checked_latent(latents[i], None, self.latent_dim)[0].to(self.device, torch.float32) for i in todo]
            with self._autocast():
                done = self.decoder.extend([out[i] for i in todo], new, [keep_hidden[i] for i in todo],
                                           windows.WINDOW_FRAMES)
            for i, cache in zip(todo, done):
                out[i] = cache
        return out

    def render_cache(self, caches: Sequence[DecoderCache], starts: Sequence[int], ends: Sequence[int],
                     finals: Sequence[bool]) -> list[torch.Tensor]:
        """Frames [starts[i], ends[i]) of each clip in `caches` → `wav: (320 (end - start),)` float32
        (`WavCubeDecoder.render`, the clips in one pass)."""
        with self._autocast():
            return [w.float() for w in self.decoder.render(caches, starts, ends, finals)]

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write `config.json` and `model.safetensors` (each atomically) into `directory`."""
        save_model(self, directory, MODEL_TYPE, self.config.to_dict())

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | os.PathLike, config: WavCubeConfig | None = None,
        device: str | torch.device = "cpu", **hub_kwargs,
    ) -> "WavCube":
        """Load our format (a directory with config.json) or a released Lightning `.ckpt`.

        `path_or_repo_id` is tried as a local path first, then as a Hugging Face Hub repo id (cached;
        `subfolder=` selects e.g. "WavCube-Pro"). A released checkpoint records no config: its
        architecture is `config` (default `WavCubeConfig.base()`).
        """
        path = resolve(path_or_repo_id, **hub_kwargs)
        if path.is_dir():
            saved = read_model_config(path, MODEL_TYPE, "codec checkpoint")
            if config is None:
                config = WavCubeConfig.from_dict(saved, f"codec checkpoint file {path / CONFIG_NAME} is broken")
            model = cls(config)
            state = read_safetensors(path / WEIGHTS_NAME, "codec checkpoint", device)
        else:  # read before building: a broken file is reported without first building a 300M-parameter model
            state = convert_released_state_dict(read_released(path, device))
            model = cls(config or WavCubeConfig.base())
        load_strict(model, state, str(path))
        local = Path(path_or_repo_id).expanduser()
        model.source = str(local.resolve()) if local.exists() else str(path_or_repo_id)
        model.subfolder, model.revision = hub_kwargs.get("subfolder"), hub_kwargs.get("revision")
        return model.to(device).eval()
