"""Which codec a latent came from: recorded in every TTS checkpoint, so synthesis needs no codec argument."""
from __future__ import annotations

from dataclasses import asdict, dataclass

CODEC_KINDS = ("wavcube", "mel")


@dataclass(frozen=True)
class CodecSpec:
    """kind: "wavcube" (128-d, 50 Hz) or "mel" (F5-TTS's 100-bin log-mel with a Vocos vocoder);
    source: hub repo id or local path; subfolder/revision: where in the repo; latent_dim, frame_rate: what
    the latents look like (checked against the loaded codec)."""

    kind: str
    source: str
    latent_dim: int
    frame_rate: float
    subfolder: str | None = None
    revision: str | None = None

    def __post_init__(self):
        if self.kind not in CODEC_KINDS:
            raise ValueError(f"unknown codec kind {self.kind!r}; choose one of {CODEC_KINDS}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CodecSpec":
        return cls(**d)
