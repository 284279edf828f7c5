"""Codec training: the semantic decoder that makes the latent keep WavLM's content, and the training model.

Stage 1 (WavCube paper; reference `WavLMVAEFeatures`, stage 1): WavLM is frozen. The encoder's extra
layers and bottleneck learn a 128-d latent from which a semantic decoder (the bottleneck mirrored,
then copies of WavLM's encoder layers) rebuilds WavLM's features; the acoustic decoder learns the
waveform from the *detached* latent. Stage 2: everything trains end to end, WavLM included, while a
frozen copy of the stage-1 WavLM (the teacher) anchors it: the semantic decoder rebuilds the
teacher's features, and the trainable WavLM's own features are pulled towards the teacher's.
The discriminators are a separate module (`codec.losses.Discriminators`), with their own optimizer.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from transformers import WavLMConfig

from .checkpoint import CheckpointError
from .encoder import EncoderConfig, run_wavlm_layers, wavlm_layers
from .losses import AdversarialConfig, MelLoss
from .model import WavCube, WavCubeConfig


class SemanticDecoder(nn.Module):
    """`forward(latent: (B, N, latent_dim), mask: (B, N)) → features: (B, N, hidden)`.

    Linear latent→(hidden+latent)/2, GELU, Linear →hidden, LayerNorm(eps 1e-6), then as many WavLM
    encoder layers as the encoder has; training-only, so not part of `WavCube`.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        wcfg = WavLMConfig(**config.wavlm)
        hidden = wcfg.hidden_size
        mid = (hidden + config.latent_dim) // 2
        self.projection = nn.Sequential(
            nn.Linear(config.latent_dim, mid), nn.GELU(), nn.Linear(mid, hidden), nn.LayerNorm(hidden, eps=1e-6),
        )
        self.layers = wavlm_layers(wcfg, config.layers)

    def forward(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return run_wavlm_layers(self.layers, self.projection(latent), mask)


def semantic_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE + (1 − mean cosine similarity) over valid frames. pred, target: (B, N, C); mask: (B, N)."""
    m = mask.to(pred.dtype)
    frames = m.sum().clamp(min=1)
    mse = ((pred - target).square().mean(-1) * m).sum() / frames
    cosine = (F.cosine_similarity(pred, target, dim=-1) * m).sum() / frames
    return mse + 1.0 - cosine


@dataclass(frozen=True)
class CodecTrainingConfig:
    codec: WavCubeConfig = field(default_factory=WavCubeConfig)
    stage: int = 1
    mel_weight: float = 45.0  # stage 2: 4.5
    semantic_weight: float = 1.0  # the semantic decoder rebuilding (teacher) WavLM features
    anchor_weight: float = 1.0  # stage 2: trainable WavLM features against the frozen teacher's
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig.stage1)

    def __post_init__(self):
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage}")

    @classmethod
    def stage1(cls) -> "CodecTrainingConfig":
        """Reference configs/WavCube-stage1.yaml."""
        return cls()

    @classmethod
    def stage2(cls) -> "CodecTrainingConfig":
        """Reference configs/WavCube-stage2.yaml."""
        return cls(stage=2, mel_weight=4.5, adversarial=AdversarialConfig.stage2())

    @classmethod
    def tiny(cls, stage: int = 1) -> "CodecTrainingConfig":
        """The tiny codec and one sub-discriminator of each kind, so that a CPU test step takes about a second."""
        base = cls.stage1() if stage == 1 else cls.stage2()
        return dataclasses.replace(base, codec=WavCubeConfig.tiny(), adversarial=dataclasses.replace(
            base.adversarial, periods=(2,), resolutions=(512,)))


class CodecTrainingModel(nn.Module):
    """WavCube + semantic decoder (+ the stage-2 teacher) + mel loss: the generator side of codec training.

    `forward(wav: (B, T) 16 kHz, unpadded) → (loss, parts, wav_hat: (B, 320 N))`: `loss` is the
    weighted mel and semantic terms (the adversarial ones come from `Discriminators`); `wav_hat`
    lines up with `wav[:, :320 N]`. `self.codec` keeps `WavCube`'s own keys, so
    `model.codec.save_pretrained(dir)` exports the trained codec.
    """

    def __init__(self, config: CodecTrainingConfig):
        super().__init__()
        self.config = config
        self.codec = WavCube(config.codec)
        self.semantic = SemanticDecoder(config.codec.encoder)
        self.mel_loss = MelLoss(config.codec.sample_rate)
        wavlm = self.codec.encoder.wavlm
        if config.stage == 1:
            self.teacher = None
            wavlm.requires_grad_(False)
        else:
            self.teacher = copy.deepcopy(wavlm).requires_grad_(False)
            if getattr(wavlm, "masked_spec_embed", None) is not None:
                # Only SpecAugment uses it, and WavLM runs in eval mode: an unused parameter breaks DDP.
                wavlm.masked_spec_embed.requires_grad_(False)
        self.train()

    def train(self, mode: bool = True) -> "CodecTrainingModel":
        super().train(mode)
        # WavLM stays in eval mode, as in the reference: training mode would add SpecAugment and LayerDrop.
        self.codec.encoder.wavlm.eval()
        if self.teacher is not None:
            self.teacher.eval()
        return self

    @torch.no_grad()
    def load_wavlm(self, state: dict[str, torch.Tensor]) -> None:
        """Start stage 1 from pre-trained WavLM weights (a `WavLMModel` state dict).

        They go into the encoder's WavLM (and the teacher); the encoder's extra layers and the
        semantic decoder's layers start as copies of WavLM's first layers, as in the reference.
        """
        wavlm = self.codec.encoder.wavlm
        wavlm.load_state_dict(state, strict=True)
        for stack in (self.codec.encoder.layers, self.semantic.layers):
            for i, layer in enumerate(stack):
                layer.load_state_dict(wavlm.encoder.layers[i].state_dict(), strict=True)
        if self.teacher is not None:
            self.teacher.load_state_dict(state, strict=True)

    @torch.no_grad()
    def start_from_stage1(self, state: dict[str, torch.Tensor], source: str = "stage-1 checkpoint") -> None:
        """Load a stage-1 `CodecTrainingModel` state dict; the teacher becomes a frozen copy of its WavLM."""
        if self.teacher is None:
            raise ValueError("start_from_stage1 is for a stage-2 model")
        own = {k for k in self.state_dict() if not k.startswith("teacher.")}
        missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
        if missing or unexpected:
            raise CheckpointError(f"{source} does not match this codec config: missing {missing[:5]}, "
                                  f"unexpected {unexpected[:5]}")
        self.load_state_dict(state, strict=False)
        self.teacher.load_state_dict(self.codec.encoder.wavlm.state_dict(), strict=True)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        c = self.config
        encoder = self.codec.encoder
        lengths = torch.full((wav.shape[0],), wav.shape[1], device=wav.device, dtype=torch.long)
        if c.stage == 1:
            with torch.no_grad():
                hidden, mask = encoder.features(wav, lengths)
            target = hidden
        else:
            hidden, mask = encoder.features(wav, lengths)
            with torch.no_grad():
                target, _ = encoder.features(wav, lengths, wavlm=self.teacher)
        latent = encoder.project(hidden, mask)  # (B, N, 128)
        semantic = semantic_loss(self.semantic(latent, mask).float(), target.float(), mask)
        # Stage 1 trains the acoustic decoder on a fixed latent: the waveform losses must not shape it.
        wav_hat = self.codec.decoder(latent.detach() if c.stage == 1 else latent, mask).float()
        mel = self.mel_loss(wav_hat, wav[:, : wav_hat.shape[1]])
        loss = c.mel_weight * mel + c.semantic_weight * semantic
        parts = {"mel": mel.detach(), "semantic": semantic.detach()}
        if c.stage == 2:
            anchor = semantic_loss(hidden.float(), target.float(), mask)
            loss = loss + c.anchor_weight * anchor
            parts["anchor"] = anchor.detach()
        return loss, parts, wav_hat
