import json

import pytest
import soundfile as sf

from eval.cli import main
from eval.protocol import read_pair_list



def test_tts_ground_truth_on_a_derived_list(real_librispeech_tree, tmp_path):
    out = tmp_path / "tts"
    rc = main(["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--ground-truth",
               "--asr", "pocketsphinx", "--limit", "2", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["system"]["kind"] == "ground_truth"
    assert report["scores"]["summary"]["utterances"] == 2
    assert report["scores"]["summary"]["sim_target"] > 0.99  # the target recording is scored against itself
    assert (out / "report.md").is_file()
    # the derived list is kept and reads back as the F5-TTS format
    assert len(read_pair_list(out / "pairs.lst", real_librispeech_tree)) >= 2


@pytest.fixture(scope="module")
def tiny_tts_dir(tmp_path_factory):
    """A tiny random TTS model folder (seed 0): its audio is noise, so the tests below check mechanics only."""
    import torch

    from tts import TTSConfig, TTSModel

    directory = tmp_path_factory.mktemp("tts")
    torch.manual_seed(0)
    TTSModel(TTSConfig.tiny()).save_pretrained(directory)
    return directory


def test_tts_generates_with_the_tts_model(real_librispeech_tree, tiny_codec_dir, tiny_tts_dir, tmp_path):
    """The `--model` path end to end with a tiny random tts.Synthesizer: its audio is noise, so only the
    mechanics are checked (generation, batching by prompt, options, reports), not the scores."""
    out = tmp_path / "run"
    args = ["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--limit", "3", "--model", str(tiny_tts_dir),
            "--codec", str(tiny_codec_dir), "--nfe", "2", "--duration", "1.5", "--asr", "pocketsphinx",
            "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["generation"]["generated"] == 3
    assert report["config"]["system"]["options"]["nfe"] == 2 and report["config"]["system"]["options"]["seed"] == 0
    assert len(list((out / "wavs").glob("*.wav"))) == 3
    # rerunning resumes (tests/eval/test_generate.py); other settings in the same directory are refused
    assert main(args[:-2] + ["--nfe", "4", "--out", str(out)]) == 2


def test_tts_durations_truth_gives_each_target_its_real_length(real_librispeech_tree, tiny_codec_dir, tiny_tts_dir,
                                                               tmp_path):
    from codec.audio import audio_duration

    out = tmp_path / "run"
    args = ["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--limit", "2", "--model", str(tiny_tts_dir),
            "--codec", str(tiny_codec_dir), "--nfe", "2", "--remove-silence", "false", "--asr", "pocketsphinx",
            "--device", "cpu", "--out", str(out)]
    assert main(args + ["--durations", "truth"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["system"]["durations"] == "truth"
    targets = {p.stem: audio_duration(p) for p in real_librispeech_tree.rglob("*.flac")}
    made = {p.stem: audio_duration(p) for p in (out / "wavs").glob("*.wav")}
    assert len(made) == 2 and all(abs(made[k] - targets[k]) <= 0.02 for k in made)  # to the 20 ms frame
    assert main(args + ["--durations", "f5", "--duration", "2.0"]) == 2  # one length for all beside it: refused


def test_tts_over_seeds_reports_each_and_the_mean(real_librispeech_tree, tiny_codec_dir, tiny_tts_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--limit", "2", "--model",
                 str(tiny_tts_dir), "--codec", str(tiny_codec_dir), "--nfe", "2", "--duration", "1.0", "--asr",
                 "pocketsphinx", "--device", "cpu", "--seeds", "0", "1", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    per_seed = [json.loads((out / f"seed-{s}" / "report.json").read_text()) for s in (0, 1)]
    assert [r["config"]["system"]["options"]["seed"] for r in per_seed] == [0, 1]
    assert [r["seed"] for r in report["seeds"]] == [0, 1]
    for key in ("wer_mean_utterance_pct", "sim_o", "sim_target"):
        values = [r["scores"]["summary"][key] for r in per_seed]
        assert [r["summary"][key] for r in report["seeds"]] == values
        assert report["scores"]["summary"][key] == pytest.approx(sum(values) / 2)
    assert per_seed[0]["scores"]["summary"]["sim_o"] != per_seed[1]["scores"]["summary"]["sim_o"]  # other noise
    assert "**mean**" in (out / "report.md").read_text()


def test_seeds_need_a_model(real_librispeech_tree, tmp_path, capsys):
    rc = main(["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--ground-truth", "--seeds", "0", "1",
               "--asr", "pocketsphinx", "--device", "cpu", "--out", str(tmp_path)])
    assert rc == 2 and "--seeds" in capsys.readouterr().err


def test_tts_without_a_list_fails_with_a_hint(real_librispeech_tree, tmp_path, capsys):
    rc = main(["tts", "--librispeech", str(real_librispeech_tree), "--pairs", str(tmp_path / "missing.lst"),
               "--ground-truth", "--asr", "pocketsphinx", "--out", str(tmp_path)])
    assert rc == 2
    assert "--derive" in capsys.readouterr().err


def test_codec_reconstruction_resumes(realspeech, tiny_codec_dir, tmp_path):
    manifest = realspeech[0]["path"].parents[1] / "manifest.tsv"
    args = ["codec", "--manifest", str(manifest), "--limit", "2", "--codec", str(tiny_codec_dir),
            "--asr", "none", "--speaker", "none", "--device", "cpu", "--out", str(tmp_path)]
    assert main(args) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    summary = report["scores"]["summary"]
    assert summary["utterances"] == 2
    assert 1.0 <= summary["pesq_wb"] <= 4.65 and summary["mel_distance"] > 0  # a random codec: poor, but scored
    assert "wer_decoded_mean_utterance_pct" not in summary  # --asr none
    decoded = sorted((tmp_path / "decoded").glob("*.wav"))
    stamps = [p.stat().st_mtime_ns for p in decoded]
    assert main(args) == 0
    assert json.loads((tmp_path / "report.json").read_text())["reconstruction"]["reconstructed"] == 0
    assert [p.stat().st_mtime_ns for p in decoded] == stamps


def test_speed_report(tiny_codec_dir, tmp_path):
    assert main(["speed", "--codec", str(tiny_codec_dir), "--lengths", "0.5", "--repeats", "1",
                 "--device", "cpu", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["task"] for r in report["results"]] == ["encode", "decode"]
    assert "RTF" in (tmp_path / "report.md").read_text()


def test_bad_synthesis_options_fail_before_any_work(real_librispeech_tree, tmp_path, capsys):
    rc = main(["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--model", str(tmp_path / "none"),
               "--sway", "9", "--asr", "pocketsphinx", "--out", str(tmp_path / "run")])
    assert rc == 2
    assert "sway" in capsys.readouterr().err
    assert not (tmp_path / "run" / "wavs").exists()


def test_tts_generates_with_a_mel_model_and_its_recorded_codec(real_librispeech_tree, mel_tts_dir, tiny_vocos, tmp_path):
    out = tmp_path / "run"
    args = ["tts", "--librispeech", str(real_librispeech_tree), "--derive", "--limit", "1", "--model", str(mel_tts_dir),
            "--nfe", "2", "--duration", "1.0", "--asr", "pocketsphinx", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    spec = report["config"]["system"]["codec"]["spec"]
    assert (spec["kind"], spec["source"], spec["latent_dim"]) == ("mel", str(tiny_vocos.resolve()), 100)
    (wav,) = (out / "wavs").glob("*.wav")
    assert sf.info(str(wav)).samplerate == 24000


def test_codec_reconstruction_with_griffin_lim(realspeech, tmp_path):
    manifest = realspeech[0]["path"].parents[1] / "manifest.tsv"
    assert main(["codec", "--manifest", str(manifest), "--limit", "1", "--codec", "griffin-lim", "--asr", "none",
                 "--speaker", "none", "--device", "cpu", "--out", str(tmp_path / "gl")]) == 0
    report = json.loads((tmp_path / "gl" / "report.json").read_text())
    assert report["config"]["codec"]["spec"]["kind"] == "mel" and report["config"]["codec"]["name"] == "griffin-lim"
