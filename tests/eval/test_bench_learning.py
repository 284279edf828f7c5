"""The learning benchmark's CI-sized tier: the whole path runs and the report holds what the issue asks for.

It asserts the pipeline and the report, not the WER: a 4-step model cannot speak.
"""
import json
import shutil

import pytest
from PIL import Image

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (apt-get install espeak-ng)")


def test_ci_tier_writes_table_report_plot_and_wavs(tmp_path, pocketsphinx_asr, resemblyzer_scorer):
    from eval.bench_learning import run

    report = run("ci", tmp_path, asr=pocketsphinx_asr, speaker=resemblyzer_scorer)
    rows = report["rows"]
    assert [r["step"] for r in rows] == [2, 4]
    for r in rows:
        assert r["train_loss"] > 0 and r["train_seconds"] > 0
        scores = r["train"]
        assert scores["wer"] >= 0 and -1 <= scores["sim"] <= 1 and len(scores["hypotheses"]) == 4
        assert scores["text_gap"] == pytest.approx(scores["text_gap"])  # a number, not None
    ceiling = report["ceiling"]["train"]
    assert {"raw", "decoded", "sim_same_voice", "sim_other_voice"} <= set(ceiling)
    assert ceiling["sim_same_voice"] > ceiling["sim_other_voice"]  # two voices really differ
    target = report["targets"]["train"]
    assert target["margin"] == 0.10 and target["wer_within_margin"] == (target["wer"] <= target["ceiling"] + 0.10)
    results = tmp_path / "spread"
    saved = json.loads((results / "report.json").read_text())
    assert saved["rows"][-1]["step"] == 4 and saved["config"]["layout"] == "spread"
    md = (results / "report.md").read_text()
    assert "| step | train s | train loss | train text gap | train WER | train SIM |" in md and "Ceiling" in md
    assert Image.open(results / "learning.png").size[0] > 1000
    assert len(list((results / "wavs").rglob("*.wav"))) == 8  # 4 at the first and 4 at the last evaluation
    assert json.loads((tmp_path / "ceiling.json").read_text())["ceiling"] == report["ceiling"]  # kept for reuse
