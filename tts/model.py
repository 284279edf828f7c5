"""The text-to-latent model: a DiT trained by flow matching to infill masked spans of speech latents."""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from codec.checkpoint import (CONFIG_NAME, WEIGHTS_NAME, CheckpointError, fetch, load_strict, read_model_config,
                              read_safetensors, save_model)
from codec.interface import Codec, CodecMismatchError, check_codec, describe
from codec.masks import length_mask
from codec.spec import CodecSpec

from .backbones import build_backbone
from .dit import DiTConfig
from .flow import integrate, random_span_mask, solver_steps, sway_timesteps
from .latent_norm import LatentNorm
from .duration import DEFAULT_RULE, LEGACY_RULE, WEIGHTED_RULES, get_rule, package_weights
from .rules import RULES
from .text import build_tokenizer

# DiT.velocity's signature: (x, cond, text_h, time, mask, drop_audio) -> (B, N, D)
VelocityNet = Callable[..., torch.Tensor]

MODEL_TYPE = "cubetts-tts"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TTSConfig:
    dit: DiTConfig = field(default_factory=DiTConfig)
    tokenizer: str = "phone"
    audio_drop_prob: float = 0.3  # drop the audio prompt only: the model also learns text-only speech
    cond_drop_prob: float = 0.2  # drop prompt and text: the unconditional branch of CFG
    span_range: tuple[float, float] = (0.7, 1.0)  # fraction of frames to infill, as F5-TTS
    codec: CodecSpec | None = None  # the codec whose latents the model was trained on
    vocab: tuple[str, ...] | None = None  # the "f5" tokenizer's vocabulary (F5-TTS's vocab.txt lines)
    # The synthesis rules (tts/rules.py: reference, durations, chunks, noise, decoding, joins): "cubetts" for
    # ours, "f5" for F5-TTS's models, which are only exact under F5-TTS's own inference rules.
    rules: str = "cubetts"
    license: str | None = None  # of the weights, shown to users (F5-TTS's releases: CC-BY-NC 4.0)
    # How long to speak a text (tts/duration.py), for cubetts' rules: fitted on real speech (README, Durations).
    duration_rule: str = DEFAULT_RULE
    # A weighted rule's numbers (a recipes.fit_duration record), kept with the model so that its durations do not
    # change when the package's fit does; None: the package's fit (tts/data/duration_weights.json), recorded.
    duration_weights: dict[str, Any] | None = None

    def __post_init__(self):
        vocab = len(build_tokenizer(self.tokenizer, self.vocab).vocab)
        if self.dit.text_vocab_size != vocab:
            raise ValueError(f"dit.text_vocab_size is {self.dit.text_vocab_size} but the "
                             f"{self.tokenizer!r} tokenizer has {vocab} tokens")
        if self.duration_weights is None and self.rules == "cubetts" and self.duration_rule in WEIGHTED_RULES:
            object.__setattr__(self, "duration_weights", package_weights())  # frozen: set once, here
        get_rule(self.duration_rule, self.duration_weights)  # ValueError naming the known rules, or the bad record
        if self.rules not in RULES:
            raise ValueError(f"unknown synthesis rules {self.rules!r}; known: {sorted(RULES)}")
        if not 0.0 < self.span_range[0] <= self.span_range[1] <= 1.0:
            raise ValueError(f"span_range must satisfy 0 < low <= high <= 1, got {self.span_range}")
        if self.codec is not None and self.codec.latent_dim != self.dit.latent_dim:
            raise ValueError(f"the codec {describe(self.codec)} gives {self.codec.latent_dim}-d latents but "
                             f"dit.latent_dim is {self.dit.latent_dim}: set dit.latent_dim to the codec's")

    @classmethod
    def _preset(cls, dit_preset, tokenizer: str, **overrides) -> "TTSConfig":
        return cls(dit=dit_preset(text_vocab_size=len(build_tokenizer(tokenizer).vocab)), tokenizer=tokenizer,
                   **overrides)

    @classmethod
    def base(cls, tokenizer: str = "phone", **overrides) -> "TTSConfig":
        return cls._preset(DiTConfig.base, tokenizer, **overrides)

    @classmethod
    def small(cls, tokenizer: str = "phone", **overrides) -> "TTSConfig":
        return cls._preset(DiTConfig.small, tokenizer, **overrides)

    @classmethod
    def tiny(cls, tokenizer: str = "phone", **overrides) -> "TTSConfig":
        return cls._preset(DiTConfig.tiny, tokenizer, **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TTSConfig":
        """Every field checked by type and range (`codec.checkpoint.config_from_dict`: ConfigError naming the
        field); a missing field is an error, except those added after the first checkpoints were saved."""
        from codec.checkpoint import config_from_dict

        added_later = ("codec", "vocab", "rules", "license", "codec.mel_type", "dit.text_layout", "dit.backbone",
                       "dit.text_mask_padding", "dit.rotary_heads", "dit.stored_rotary_freqs", "dit.head_dim",
                       "duration_rule", "duration_weights")
        if isinstance(d, dict) and "rules" not in d and d.get("tokenizer") == "f5":
            # Saved before the rules were recorded: F5-TTS conversions were the only models with its tokenizer.
            logger.info("the TTS config records no synthesis rules (saved before they were recorded): F5-TTS's")
            d = {**d, "rules": "f5"}
        if isinstance(d, dict) and "duration_rule" not in d:
            legacy = "letters" if d.get("tokenizer") == "char" else LEGACY_RULE
            logger.info("the TTS config records no duration rule (saved before it was recorded): %r, as it was "
                        "planned with then", legacy)
            d = {**d, "duration_rule": legacy}
        if (isinstance(d, dict) and "duration_weights" not in d and d.get("rules", "cubetts") == "cubetts"
                and d.get("duration_rule") in WEIGHTED_RULES):
            logger.info("the TTS config records no duration weights (saved before they were recorded): the "
                        "package's fit (tts/data/duration_weights.json)")
        return config_from_dict(cls, d, optional=added_later)


def check_codec_fits(config: TTSConfig, codec: Codec) -> None:
    """The one check that `codec` gives the latents a model takes: against the codec its checkpoint records
    (kind, latent_dim, frame rate; `codec.check_codec`), which `TTSConfig` holds to its DiT's latent_dim,
    or, when none is recorded, against the DiT's latent_dim. Raises CodecMismatchError naming both."""
    if config.codec is not None:
        check_codec(config.codec, codec)
    elif codec.latent_dim != config.dit.latent_dim:
        raise CodecMismatchError(f"the codec gives {codec.latent_dim}-d latents ({codec.kind} codec) but the TTS "
                                 f"model takes {config.dit.latent_dim}-d ones (its dit.latent_dim)")


class TTSModel(nn.Module):
    """DiT + latent statistics. `forward` is the training loss; `sample` generates.

    Latents enter and leave in the codec's scale; the model works on standardised latents inside.
    """

    def __init__(self, config: TTSConfig):
        super().__init__()
        self.config = config
        self.dit = build_backbone(config.dit)
        self.latent_norm = LatentNorm(config.dit.latent_dim)

    def forward(self, latent: torch.Tensor, mask: torch.Tensor, text: torch.Tensor,
                span_mask: torch.Tensor | None = None, time: torch.Tensor | None = None,
                noise: torch.Tensor | None = None, drop_audio: torch.Tensor | None = None,
                drop_text: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Flow-matching loss of infilling a random span of each utterance.

        latent: (B, N, D) codec latents; mask: (B, N) bool, True = valid; text: (B, L) token ids of
        the whole utterance, 0-padded. `span_mask` (B, N) bool, `time` (B,), `noise` (B, N, D) and
        the guidance drops `drop_audio`, `drop_text` (B,) bool are drawn at random unless given
        (per item: the text is dropped with `cond_drop_prob`, always with the prompt; the prompt
        alone with `audio_drop_prob`). The loss is the mean squared velocity error over the span's
        frames only: the prompt is given to the model, so there is nothing to learn there.
        Returns `(loss, {"mse": loss.detach(), "span_frames": number of frames in the loss})`.
        """
        B, N, _ = latent.shape
        x1 = self.latent_norm.normalize(latent)
        if span_mask is None:
            span_mask = random_span_mask(mask.sum(1), N, self.config.span_range)
        span_mask = span_mask & mask
        time = torch.rand(B, device=latent.device) if time is None else time
        x0 = torch.randn_like(x1) if noise is None else noise
        t = time[:, None, None].to(x1.dtype)
        x_t = (1 - t) * x0 + t * x1
        cond = x1.masked_fill(span_mask[..., None], 0.0)
        if drop_text is None:
            drop_text = torch.rand(B, device=latent.device) < self.config.cond_drop_prob
        if drop_audio is None:
            drop_audio = (torch.rand(B, device=latent.device) < self.config.audio_drop_prob) | drop_text
        pred = self.dit(x_t, cond, text, time, mask, drop_audio, drop_text)  # (B, N, D)
        err = F.mse_loss(pred.float(), (x1 - x0).float(), reduction="none").mean(-1)  # (B, N)
        n_span = span_mask.sum()
        loss = (err * span_mask).sum() / n_span.clamp(min=1)
        return loss, {"mse": loss.detach(), "span_frames": n_span}

    @torch.inference_mode()
    def sample(self, prompt: torch.Tensor, prompt_lengths: torch.Tensor, text: torch.Tensor,
               lengths: torch.Tensor, noise: torch.Tensor, *, nfe: int, cfg: float, sway: float,
               solver: str, schedule: str, velocity: VelocityNet | None = None,
               stop: Callable[[], bool] | None = None) -> torch.Tensor:
        """Generate latents that continue each prompt.

        prompt: (B, P, D) codec latents, valid up to `prompt_lengths: (B,)`; text: (B, L) ids of
        prompt transcript + new text; lengths: (B,) total frames (prompt + new); noise: (B, N, D)
        with N = max(lengths), the starting point (it makes the result a function of its seed).
        `nfe` velocity evaluations by `solver` on the `schedule` time grid ("uniform" or "epss")
        swayed by `sway`; `cfg` is the guidance strength in `v = v_cond + cfg (v_cond - v_uncond)`.
        `velocity` stands in for `self.dit.velocity` (tts.graphs passes its bf16 CUDA-graph one).
        `stop()` is asked before each ODE step; True raises `tts.flow.Stopped`.
        Returns (B, N, D) latents in the codec's scale, the prompt frames copied from `prompt`;
        frames past `lengths` are zero.
        """
        B, N, D = noise.shape
        net = velocity or self.dit.velocity
        timesteps = sway_timesteps(solver_steps(nfe, solver), sway, schedule, noise.device)
        mask = length_mask(lengths, N)  # (B, N)
        prompt_mask = length_mask(prompt_lengths, N)
        cond = torch.zeros_like(noise)
        P = min(prompt.shape[1], N)
        cond[:, :P] = self.latent_norm.normalize(prompt[:, :P].to(noise.dtype))
        cond = cond.masked_fill(~prompt_mask[..., None], 0.0)
        keep = torch.zeros(B, dtype=torch.bool, device=noise.device)
        if cfg:  # one batch of 2B: conditional then unconditional
            cond2, mask2, drop = torch.cat([cond, cond]), torch.cat([mask, mask]), torch.cat([keep, ~keep])
            text_h = self.dit.embed_text(torch.cat([text, text]), mask2, drop)  # once: no step changes it

            def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                v_cond, v_uncond = net(torch.cat([x, x]), cond2, text_h, torch.cat([t, t]), mask2, drop).float().chunk(2)
                return v_cond + cfg * (v_cond - v_uncond)  # float32: the difference is small beside each term
        else:
            text_h = self.dit.embed_text(text, mask, keep)

            def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return net(x, cond, text_h, t, mask, keep).float()

        z = integrate(velocity, noise, timesteps, solver, stop)
        z = torch.where(prompt_mask[..., None], cond, z)
        return self.latent_norm.denormalize(z).masked_fill(~mask[..., None], 0.0)

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """Write `config.json` (with the format version) and `model.safetensors`, each atomically."""
        save_model(self, directory, MODEL_TYPE, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device: torch.device | str = "cpu",
                        subfolder: str | None = None) -> "TTSModel":
        """Load from a directory written by `save_pretrained`, or a hub repo id holding one.
        F5-TTS's own checkpoint files are loaded by `tts.load_model` (tts/loading.py)."""
        directory = _resolve(path, subfolder)
        saved = read_model_config(directory, MODEL_TYPE, "TTS model")
        try:
            config = TTSConfig.from_dict(saved)
        except (KeyError, TypeError, ValueError) as err:  # a missing, unknown or malformed field
            raise CheckpointError(f"TTS model file {directory / CONFIG_NAME} is broken: malformed config: "
                                  f"{type(err).__name__}: {err}") from None
        model = cls(config)
        load_strict(model, read_safetensors(directory / WEIGHTS_NAME, "TTS model"), str(directory))
        return model.to(device).eval()


def _resolve(path: str | os.PathLike, subfolder: str | None = None) -> Path:
    """A saved TTS model: a local directory, or a hub repo id (downloaded once into the HF cache)."""
    local = fetch(path, "TTS model", subfolder, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME])
    if not (local / CONFIG_NAME).is_file():
        raise CheckpointError(f"{local} has no {CONFIG_NAME}: not a saved TTS model")
    return local
