"""WavCube: the public codec API (encode, decode, save, load)."""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import save_file
from torch import nn

from . import windows
from .audio import atomic_write, prepare_clips
from .checkpoint import (CheckpointError, convert_released_state_dict, read_config, read_released, read_safetensors,
                         resolve)
from .decoder import DecoderConfig, WavCubeDecoder
from .encoder import EncoderConfig, WavCubeEncoder, normalize_clips
from .spec import CodecSpec
from .transformer import length_mask
from .windows import decode_windows, encode_windows

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
WAVLM_FIELD = 400  # samples under WavLM's first frame (25 ms); later frames start every 320 samples


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
        return {"format_version": FORMAT_VERSION, "model_type": "wavcube", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "WavCubeConfig":
        version = d.get("format_version")
        if version != FORMAT_VERSION or d.get("model_type") != "wavcube":
            raise CheckpointError(
                f"unsupported codec config (model_type={d.get('model_type')!r}, format_version={version!r}); "
                f"this version of cubetts reads model_type 'wavcube', format_version {FORMAT_VERSION}"
            )
        try:
            dec = dict(d["decoder"])
            dec["vocoder_window"] = tuple(dec["vocoder_window"])
            return cls(encoder=EncoderConfig(**d["encoder"]), decoder=DecoderConfig(**dec),
                       sample_rate=d["sample_rate"])
        except (KeyError, TypeError, ValueError) as err:  # a missing, unknown or malformed field
            raise CheckpointError(f"malformed codec config: {type(err).__name__}: {err}") from None


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
        if latent.dim() == 2:
            latent = latent[None]
        if latent.dim() != 3 or latent.shape[-1] != self.latent_dim:
            raise ValueError(f"expected latent of shape (B, N, {self.latent_dim}), got {tuple(latent.shape)}")
        if mask is not None and mask.shape != latent.shape[:2]:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match latent {tuple(latent.shape[:2])}")
        if latent.shape[1] == 0:
            raise ValueError("latent has no frames")
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

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write `config.json` and `model.safetensors` (each atomically) into `directory`."""
        directory = Path(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
        text = json.dumps(self.config.to_dict(), indent=2)
        atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text))

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | os.PathLike, config: WavCubeConfig | None = None,
        map_location: str | torch.device = "cpu", **hub_kwargs,
    ) -> "WavCube":
        """Load our format (a directory with config.json) or a released Lightning `.ckpt`.

        `path_or_repo_id` is tried as a local path first, then as a Hugging Face Hub repo id (cached;
        `subfolder=` selects e.g. "WavCube-Pro"). A released checkpoint records no config: its
        architecture is `config` (default `WavCubeConfig.base()`).
        """
        path = resolve(path_or_repo_id, **hub_kwargs)
        if path.is_dir():
            cfg_file = path / CONFIG_NAME
            if not cfg_file.is_file() or not (path / WEIGHTS_NAME).is_file():
                raise CheckpointError(f"{path} holds no {CONFIG_NAME} + {WEIGHTS_NAME} (a saved cubetts codec)")
            if config is None:
                saved = read_config(cfg_file, "codec checkpoint")
                try:
                    config = WavCubeConfig.from_dict(saved)
                except CheckpointError as err:
                    raise CheckpointError(f"codec checkpoint file {cfg_file} is broken: {err}") from None
            model = cls(config)
            state = read_safetensors(path / WEIGHTS_NAME, "codec checkpoint", map_location)
        else:  # read before building: a broken file is reported without first building a 300M-parameter model
            state = convert_released_state_dict(read_released(path, map_location))
            model = cls(config or WavCubeConfig.base())
        load_strict(model, state, str(path))
        local = Path(path_or_repo_id).expanduser()
        model.source = str(local.resolve()) if local.exists() else str(path_or_repo_id)
        model.subfolder, model.revision = hub_kwargs.get("subfolder"), hub_kwargs.get("revision")
        return model.eval()


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)` with one readable error listing every mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        def head(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (f" ... ({len(xs)} in all)" if len(xs) > 5 else "")
        parts = [f"missing: {head(missing)}" if missing else "", f"unexpected: {head(unexpected)}" if unexpected else "",
                 f"shape mismatch: {head(sorted(shapes))}" if shapes else ""]
        raise CheckpointError(f"checkpoint {source} does not match the model config; " + "; ".join(p for p in parts if p))
    model.load_state_dict(state, strict=True)
