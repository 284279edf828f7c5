"""End to end on real speech: generate the test set with a test double, score it offline, write both reports."""
import json

import pytest
import torch

from codec.audio import load_audio
from eval.generate import generate_test_set, output_path
from eval.protocol import build_cross_sentence_pairs, read_librispeech
from eval.zero_shot import run_zero_shot_eval


class TargetEcho:
    """Test double for a TTS model, NOT a model: asked to speak a target's text, it returns that target's real
    recording. So WER and SIM below are computed on real speech, with known right answers (SIM to the target
    recording = 1, WER = the ASR's own error on that clip)."""

    def __init__(self, pairs):
        self.by_text = {p.target.text: p.target.wav for p in pairs}

    def synthesize(self, text, ref_wav, ref_sr, ref_text=None, **options):
        return load_audio(self.by_text[text])


@pytest.fixture(scope="module")
def pairs(real_librispeech_tree):
    pairs = build_cross_sentence_pairs(read_librispeech(real_librispeech_tree))
    assert len(pairs) >= 3
    return pairs


def test_tiny_run_writes_both_reports(pairs, tmp_path, pocketsphinx_asr, resemblyzer_scorer):
    wav_dir = tmp_path / "wavs"
    generation = generate_test_set(TargetEcho(pairs), pairs, wav_dir, record={"model": "target-echo double"},
                                   batch_size=2)
    assert generation["generated"] == len(pairs)
    config = {"pairs": {"source": "derived", "is_f5_list": False, "limit": None, "count": len(pairs)},
              "system": {"kind": "model", "name": "target-echo double"},
              "asr": pocketsphinx_asr.describe(), "speaker": resemblyzer_scorer.describe()}
    audio = [output_path(wav_dir, p) for p in pairs]
    run_zero_shot_eval(pairs, audio, tmp_path, pocketsphinx_asr, resemblyzer_scorer, config, torch.device("cpu"),
                       generation, batch_size=2)

    report = json.loads((tmp_path / "report.json").read_text())
    markdown = (tmp_path / "report.md").read_text()
    summary, rows = report["scores"]["summary"], report["scores"]["utterances"]
    assert summary["utterances"] == len(rows) == len(pairs)
    assert [r["id"] for r in rows] == [p.id for p in pairs]
    # the double returns the target recording itself
    assert summary["sim_target"] > 0.99
    # the prompt is another clip of the same speaker: similar, but less than the clip itself
    assert 0.6 < summary["sim_o"] < summary["sim_target"]
    assert all(0.6 < r["sim_o"] < r["sim_target"] for r in rows)
    # real read speech through an offline recogniser: most words right
    assert summary["wer_mean_utterance_pct"] < 50
    assert summary["wer_mean_utterance_pct"] == pytest.approx(sum(r["wer_pct"] for r in rows) / len(rows))
    errors = sum(r["substitutions"] + r["deletions"] + r["insertions"] for r in rows)
    assert summary["wer_corpus_pct"] == pytest.approx(100 * errors / sum(r["reference_words"] for r in rows))
    # provenance: configuration, versions, device, and an honest comparison with the published table
    assert report["config"]["asr"]["backend"] == "pocketsphinx"
    assert report["environment"]["packages"]["torch"] and report["environment"]["device"] == "cpu"
    assert report["published"]["comparable"] == {"wer": False, "sim_o": False}
    assert report["published"]["rows"] and all(r["source"] for r in report["published"]["rows"])
    assert "WER mean/utt (%)" in markdown and "Not comparable" in markdown
    assert all(p.id in markdown for p in pairs)
