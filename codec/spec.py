"""Which codec a latent came from: recorded in every TTS checkpoint, so synthesis needs no codec argument."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .checkpoint import check_at_least, config_from_dict

CODEC_KINDS = ("wavcube", "mel")
# F5-TTS's two mel types (its `mel_spec_type`): the same shape of latent, but each heard only through its own vocoder.
MEL_TYPES = ("vocos", "bigvgan")


@dataclass(frozen=True)
class CodecSpec:
    """kind: "wavcube" (128-d, 50 Hz) or "mel" (F5-TTS's 100-bin log-mel with a Vocos or BigVGAN vocoder);
    source: hub repo id or local path; subfolder/revision: where in the repo; latent_dim, frame_rate: what
    the latents look like (checked against the loaded codec); mel_type: of a "mel" codec, "vocos" or "bigvgan"
    (None for a WavCube; a mel record written before it was recorded is "vocos", the only type there was)."""

    kind: str
    source: str
    latent_dim: int
    frame_rate: float
    subfolder: str | None = None
    revision: str | None = None
    mel_type: str | None = None

    def __post_init__(self):
        if self.kind not in CODEC_KINDS:
            raise ValueError(f"unknown codec kind {self.kind!r}; choose one of {CODEC_KINDS}")
        if self.kind == "mel" and self.mel_type is None:
            object.__setattr__(self, "mel_type", "vocos")
        if self.mel_type not in (MEL_TYPES if self.kind == "mel" else (None,)):
            raise ValueError(f"mel_type {self.mel_type!r} for a {self.kind} codec; a mel codec's is one of "
                             f"{MEL_TYPES}, a wavcube's None")
        check_at_least(self, 1, "latent_dim")
        if not 0 < self.frame_rate < float("inf"):
            raise ValueError(f"frame_rate must be a positive number of frames per second, got {self.frame_rate!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, where: str = "codec record") -> "CodecSpec":
        """Every field checked (`config_from_dict`); ConfigError names `where` and the field. `mel_type` may be
        absent (records written before it was recorded)."""
        return config_from_dict(cls, d, where, optional=("mel_type",))
