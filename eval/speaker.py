"""Speaker similarity: cosine between speaker embeddings, with the embedding model passed in.

Two scorers. `ResemblyzerScorer` (GE2E d-vectors, weights in the resemblyzer wheel) runs anywhere and is the
default here. `WavLMECAPAScorer` is the model the papers use for SIM-o (WavLM-Large + ECAPA-TDNN, UniSpeech's
`wavlm_large_finetune.pth`, as in F5-TTS, E2-TTS and WavCube); the two scales differ, so a resemblyzer SIM
is never comparable with a published SIM-o.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F

from codec.audio import mono_at

SPEAKER_SAMPLE_RATE = 16000  # both scorers embed 16 kHz audio


@runtime_checkable
class SpeakerScorer(Protocol):
    def embed(self, wavs: list[torch.Tensor], sample_rate: int) -> torch.Tensor:
        """`wavs`: list of `(T,)` → `(B, D)` L2-normalised embeddings."""
        ...

    def describe(self) -> dict: ...


class SpeakerModelError(RuntimeError):
    """A speaker model that cannot be loaded."""


class ResemblyzerScorer:
    """Resemblyzer's GE2E speaker encoder (256-d), with its own preprocessing.

    Preprocessing (resemblyzer's `preprocess_wav`): raise the level to -30 dBFS (never lower it) and cut
    pauses longer than the VAD window, so leading/trailing silence in generated audio does not move the score.
    The utterance embedding is the normalised mean over 1.6 s windows.
    """

    def __init__(self, device: str | torch.device = "cpu"):
        from resemblyzer import VoiceEncoder

        self.device = torch.device(device)
        self.encoder = VoiceEncoder(device=self.device, verbose=False)

    def embed(self, wavs: list[torch.Tensor], sample_rate: int) -> torch.Tensor:
        from resemblyzer import preprocess_wav

        out = []
        for wav in wavs:
            raw = mono_at(wav, sample_rate, SPEAKER_SAMPLE_RATE).numpy()
            # Digital silence (a failed generation) cannot be level-normalised and trims to nothing: embed it
            # as it is instead of failing, so it scores low rather than stopping the run.
            trimmed = preprocess_wav(raw) if raw.any() else raw  # already at resemblyzer's 16 kHz: no source_sr
            clip = trimmed if len(trimmed) >= SPEAKER_SAMPLE_RATE // 10 else raw
            out.append(torch.from_numpy(self.encoder.embed_utterance(clip)))
        return F.normalize(torch.stack(out), dim=-1)

    def describe(self) -> dict:
        import resemblyzer

        return {"backend": "resemblyzer", "model": "GE2E d-vector (pretrained.pt shipped with resemblyzer)",
                "weights": str(Path(resemblyzer.__file__).parent / "pretrained.pt")}


class WavLMECAPAScorer:
    """WavLM-Large + ECAPA-TDNN speaker verification model, loaded from a TorchScript file.

    This is the SIM-o model of F5-TTS / E2-TTS / WavCube: UniSpeech's `ECAPA_TDNN_SMALL(feat_dim=1024,
    feat_type="wavlm_large")` with `wavlm_large_finetune.pth`. Its code is not part of cubetts, so export it
    once where it runs (e.g. an F5-TTS install): build the model, `load_state_dict(ckpt["model"], strict=False)`
    as F5-TTS does, `torch.jit.trace(model.eval(), torch.randn(1, 48000)).save("wavlm_ecapa.pt")`. The module
    must map `(1, T)` 16 kHz audio to `(1, D)`. Each clip is embedded on its own, unnormalised, as in F5-TTS.
    """

    def __init__(self, checkpoint: str | os.PathLike, device: str | torch.device = "cpu"):
        path = Path(checkpoint)
        if not path.is_file():
            raise SpeakerModelError(
                f"WavLM-ECAPA checkpoint not found: {path}. Pass a TorchScript export of UniSpeech's "
                "ECAPA_TDNN_SMALL(feat_dim=1024, feat_type='wavlm_large') with wavlm_large_finetune.pth "
                "(see WavLMECAPAScorer's docstring), or use the resemblyzer scorer."
            )
        self.device, self.path = torch.device(device), path
        try:
            self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except RuntimeError as err:
            raise SpeakerModelError(f"{path} is not a TorchScript module: {err}") from None

    @torch.inference_mode()
    def embed(self, wavs: list[torch.Tensor], sample_rate: int) -> torch.Tensor:
        out = []
        for w in wavs:
            clip = mono_at(w, sample_rate, SPEAKER_SAMPLE_RATE)[None].to(self.device)  # (1, T)
            out.append(self.model(clip).reshape(-1).float().cpu())
        return F.normalize(torch.stack(out), dim=-1)

    def describe(self) -> dict:
        return {"backend": "wavlm-ecapa", "model": str(self.path)}


SPEAKER_BACKENDS = ("resemblyzer", "wavlm-ecapa")


def load_speaker_scorer(
    backend: str, checkpoint: str | None = None, device: str | torch.device = "cpu"
) -> SpeakerScorer:
    if backend == "resemblyzer":
        if checkpoint:
            raise ValueError("the resemblyzer scorer uses the weights shipped in its wheel; it takes no checkpoint")
        return ResemblyzerScorer(device=device)
    if backend == "wavlm-ecapa":
        if not checkpoint:
            raise SpeakerModelError("the wavlm-ecapa scorer needs a checkpoint path (--speaker-checkpoint)")
        return WavLMECAPAScorer(checkpoint, device=device)
    raise ValueError(f"unknown speaker scorer {backend!r}; choose one of {', '.join(SPEAKER_BACKENDS)}")


def speaker_similarity(
    scorer: SpeakerScorer, wavs_a: Sequence[torch.Tensor], wavs_b: Sequence[torch.Tensor], sample_rate: int
) -> list[float]:
    """Cosine similarity of each pair `(wavs_a[i], wavs_b[i])`, all at `sample_rate`; 1 = same embedding."""
    if len(wavs_a) != len(wavs_b):
        raise ValueError(f"{len(wavs_a)} clips vs {len(wavs_b)} clips")
    a, b = scorer.embed(list(wavs_a), sample_rate), scorer.embed(list(wavs_b), sample_rate)
    return (a * b).sum(dim=-1).tolist()
