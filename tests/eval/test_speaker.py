import itertools

import pytest
import torch
from torch import nn

from codec.audio import load_audio, resample
from eval.speaker import (ResemblyzerScorer, SpeakerModelError, SpeakerScorer, WavLMECAPAScorer,
                          load_speaker_scorer, speaker_similarity)


@pytest.fixture(scope="module")
def multi_speaker(realspeech):
    """Real clips of speakers with several utterances: LibriSpeech dev-clean (1988, 2412, 3752) and VCTK."""
    rows = [r for r in realspeech if r["subset"] in ("librispeech_dev_clean", "vctk")]
    counts = {s: sum(r["speaker"] == s for r in rows) for s in {r["speaker"] for r in rows}}
    rows = [r for r in rows if counts[r["speaker"]] >= 2]
    return rows, [load_audio(r["path"], 16000)[0] for r in rows]


def test_identical_audio_scores_one(realspeech, resemblyzer_scorer):
    assert isinstance(resemblyzer_scorer, SpeakerScorer)
    wav, sr = load_audio(realspeech[0]["path"])
    assert speaker_similarity(resemblyzer_scorer, [wav], [wav.clone()], sr)[0] == pytest.approx(1.0, abs=1e-4)


def test_sample_rate_is_handled(realspeech, resemblyzer_scorer):
    row = next(r for r in realspeech if r["subset"] == "libritts_test_clean")  # 24 kHz
    wav, sr = load_audio(row["path"])
    assert sr == 24000
    native = resemblyzer_scorer.embed([wav], sr)
    at_16k = resemblyzer_scorer.embed([resample(wav, sr, 16000)], 16000)
    assert (native @ at_16k.T).item() > 0.99  # the scorer resamples: the rate a clip comes at does not matter


def test_same_speaker_scores_above_different_speakers(multi_speaker, resemblyzer_scorer):
    rows, wavs = multi_speaker
    emb = resemblyzer_scorer.embed(wavs, 16000)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(len(rows)), atol=1e-5)
    sim = emb @ emb.T
    same, diff = [], []
    for i, j in itertools.combinations(range(len(rows)), 2):
        (same if rows[i]["speaker"] == rows[j]["speaker"] else diff).append((i, j, sim[i, j].item()))
    assert sum(s for *_, s in same) / len(same) > sum(s for *_, s in diff) / len(diff) + 0.2
    for speaker in {r["speaker"] for r in rows}:
        own = [s for i, j, s in same if rows[i]["speaker"] == speaker]
        other = [s for i, j, s in diff if speaker in (rows[i]["speaker"], rows[j]["speaker"])]
        # every speaker's least similar own pair beats its most similar pair with anyone else
        assert min(own) > max(other), speaker


def test_wavlm_ecapa_needs_its_checkpoint(tmp_path):
    with pytest.raises(SpeakerModelError, match="checkpoint not found"):
        WavLMECAPAScorer(tmp_path / "wavlm_ecapa.pt")
    with pytest.raises(SpeakerModelError, match="needs a checkpoint"):
        load_speaker_scorer("wavlm-ecapa")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(SpeakerModelError, match="not a TorchScript"):
        WavLMECAPAScorer(tmp_path / "junk.pt")


class _MeanPool(nn.Module):
    """Stand-in with the exported model's contract: (1, T) 16 kHz audio → (1, D)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv1d(1, 8, kernel_size=400, stride=160)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.proj(wav[:, None]).mean(dim=-1)


def test_wavlm_ecapa_loads_a_torchscript_export(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "export.pt"
    torch.jit.trace(_MeanPool().eval(), torch.randn(1, 16000)).save(str(path))
    scorer = WavLMECAPAScorer(path)
    wavs = [torch.randn(16000), torch.randn(24000)]
    emb = scorer.embed(wavs, 16000)
    assert emb.shape == (2, 8)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert speaker_similarity(scorer, wavs[:1], wavs[:1], 16000)[0] == pytest.approx(1.0, abs=1e-5)


def test_resemblyzer_survives_silence(resemblyzer_scorer):
    emb = resemblyzer_scorer.embed([torch.zeros(16000)], 16000)
    assert emb.shape[0] == 1 and torch.isfinite(emb).all()


def test_resemblyzer_takes_no_checkpoint():
    with pytest.raises(ValueError):
        load_speaker_scorer("resemblyzer", "some.pt")
    assert isinstance(load_speaker_scorer("resemblyzer"), ResemblyzerScorer)
