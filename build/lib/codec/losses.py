"""Waveform losses for codec training: the mel reconstruction loss and the GAN of Vocos.

Both come from the `vocos` package, as the WavCube reference uses them: an L1 loss between log-mel
magnitudes (n_fft 1024, hop 256, 100 mels, at 16 kHz), and hinge-loss multi-period (HiFi-GAN) and
multi-resolution (DAC) discriminators with feature matching.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from vocos.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
from vocos.loss import DiscriminatorLoss, FeatureMatchingLoss, GeneratorLoss, MelSpecReconstructionLoss


@dataclass(frozen=True)
class AdversarialConfig:
    # Scales every adversarial term, the discriminators' own loss included (reference `gan_loss_coeff`).
    gan_weight: float = 1.0
    mrd_weight: float = 1.0  # multi-resolution terms relative to the multi-period ones
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    resolutions: tuple[int, ...] = (2048, 1024, 512)  # STFT window lengths of the multi-resolution discriminator

    @classmethod
    def stage1(cls) -> "AdversarialConfig":
        return cls()

    @classmethod
    def stage2(cls) -> "AdversarialConfig":
        # End-to-end training moves WavLM too: a weaker GAN keeps it from trading semantics for texture.
        return cls(gan_weight=0.1)


class MelLoss(nn.Module):
    """`forward(wav_hat: (B, T), wav: (B, T)) → scalar`: L1 between log-mel magnitudes, in float32."""

    def __init__(self, sample_rate: int):
        super().__init__()
        self.loss = MelSpecReconstructionLoss(sample_rate=sample_rate)

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
        return self.loss(wav_hat.float(), wav.float())


class Discriminators(nn.Module):
    """Multi-period + multi-resolution discriminators and their losses.

    `forward(wav, wav_hat, update_discriminators)` → `(loss, parts)`, `wav`, `wav_hat`: (B, T):
    - `update_discriminators=True`: the discriminators' hinge loss, real against generated (pass
      `wav_hat` detached);
    - `False`: the generator's adversarial hinge loss plus feature matching.
    Both go through `forward` so that a DistributedDataParallel wrapper sees every call. Each
    sub-discriminator's term is averaged over the sub-discriminators, as in the reference.
    """

    def __init__(self, config: AdversarialConfig):
        super().__init__()
        self.config = config
        with warnings.catch_warnings():  # vocos builds them with the deprecated torch weight_norm
            warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
            self.mpd = MultiPeriodDiscriminator(periods=tuple(config.periods))
            self.mrd = MultiResolutionDiscriminator(fft_sizes=tuple(config.resolutions))
        self.disc_loss = DiscriminatorLoss()
        self.gen_loss = GeneratorLoss()
        self.feature_loss = FeatureMatchingLoss()

    def forward(self, wav: torch.Tensor, wav_hat: torch.Tensor,
                update_discriminators: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c = self.config
        wav, wav_hat = wav.float(), wav_hat.float()
        real_mp, fake_mp, fmap_real_mp, fmap_fake_mp = self.mpd(y=wav, y_hat=wav_hat)
        real_mrd, fake_mrd, fmap_real_mrd, fmap_fake_mrd = self.mrd(y=wav, y_hat=wav_hat)
        if update_discriminators:
            mp = self.disc_loss(real_mp, fake_mp)[0].squeeze() / len(real_mp)
            mrd = self.disc_loss(real_mrd, fake_mrd)[0].squeeze() / len(real_mrd)
            loss = c.gan_weight * (mp + c.mrd_weight * mrd)
            return loss, {"disc_mp": mp.detach(), "disc_mrd": mrd.detach()}
        gen_mp = self.gen_loss(fake_mp)[0].squeeze() / len(fake_mp)
        gen_mrd = self.gen_loss(fake_mrd)[0].squeeze() / len(fake_mrd)
        fm_mp = self.feature_loss(fmap_real_mp, fmap_fake_mp).squeeze() / len(fmap_real_mp)
        fm_mrd = self.feature_loss(fmap_real_mrd, fmap_fake_mrd).squeeze() / len(fmap_real_mrd)
        loss = c.gan_weight * (gen_mp + fm_mp + c.mrd_weight * (gen_mrd + fm_mrd))
        parts = {"gen_mp": gen_mp, "gen_mrd": gen_mrd, "fm_mp": fm_mp, "fm_mrd": fm_mrd}
        return loss, {k: v.detach() for k, v in parts.items()}
