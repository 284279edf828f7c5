"""`python -m app`: flags and environment variables, bad flags failing fast, and starting without a checkpoint."""
import gradio as gr
import pytest

from app.cli import build_parser, main
from tts import SynthesisOptions
from tts.asr import DEFAULT_ASR_MODEL


@pytest.fixture
def launched(monkeypatch):
    """Records what `main` would serve instead of serving it: [(blocks, launch kwargs)]."""
    calls = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: calls.append((self, kwargs)))
    for name in ("CUBETTS_TTS", "CUBETTS_CODEC", "CUBETTS_ASR"):
        monkeypatch.delenv(name, raising=False)
    return calls


def labelled(demo: gr.Blocks) -> dict:
    return {b.label: b for b in demo.blocks.values() if getattr(b, "label", None)}


def test_environment_variables_are_the_defaults(monkeypatch, launched):
    args = build_parser().parse_args([])
    assert (args.tts, args.codec, args.asr, args.host, args.share) == ("F5TTS_v1_Base", None, DEFAULT_ASR_MODEL,
                                                                       "127.0.0.1", False)
    monkeypatch.setenv("CUBETTS_TTS", "runs/tts/ema")
    monkeypatch.setenv("CUBETTS_CODEC", "codec.ckpt")
    monkeypatch.setenv("CUBETTS_ASR", "whisper-dir")
    args = build_parser().parse_args([])
    assert (args.tts, args.codec, args.asr) == ("runs/tts/ema", "codec.ckpt", "whisper-dir")
    assert build_parser().parse_args(["--tts", "other"]).tts == "other"


def test_starts_without_a_checkpoint_and_says_what_is_missing(launched):
    # HF_HUB_OFFLINE=1 and nothing cached: the default F5-TTS release cannot be had.
    assert main(["--port", "7999", "--concurrency", "3", "--max-chars", "50"]) == 0
    (demo, kwargs), = launched
    assert kwargs["server_name"] == "127.0.0.1" and kwargs["server_port"] == 7999 and not kwargs["share"]
    assert kwargs["show_error"]  # Gradio's own refusals reach raw HTTP callers as messages, not {"error": null}
    paths = {route.path for route in kwargs["app_kwargs"]["routes"]}
    assert paths == {"/v1/audio/speech", "/v1/models"}  # the OpenAI-compatible API, in the same server
    assert demo._queue.default_concurrency_limit == 3
    status = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-status")
    assert "Not ready" in status.value and "F5TTS_v1_Base" in status.value
    assert "SWivid/F5-TTS" in status.value and "Hugging Face Hub" in status.value and "CUBETTS_TTS" in status.value
    components = labelled(demo)
    assert components["Steps"].value == SynthesisOptions().nfe and components["Speed"].value == SynthesisOptions().speed
    assert "Up to 50 characters" in components["Text to speak"].info


def test_loads_saved_models_and_their_option_flags(launched, synthesizer, tmp_path):
    synthesizer.model.save_pretrained(tmp_path / "tts")
    synthesizer.codec.save_pretrained(tmp_path / "codec")
    argv = ["--tts", str(tmp_path / "tts"), "--codec", str(tmp_path / "codec"), "--device", "cpu", "--nfe", "16"]
    assert main(argv) == 0
    (demo, _), = launched
    status = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-status")
    assert str(tmp_path / "tts") in status.value and "Not ready" not in status.value and "slow" in status.value
    components = labelled(demo)
    assert components["Steps"].value == 16  # synthesis flags set the page's starting values
    assert components["CFG strength"].value == SynthesisOptions().cfg


@pytest.mark.parametrize("argv, message", [(["--nfe", "0"], "nfe must be a whole number from 1 to 128, got 0"),
                                           (["--seed", "-1"], "seed must be a whole number from 0"),
                                           (["--device", "cuda:7"], "CUDA is not available")])
def test_bad_flags_fail_before_loading_anything(launched, capsys, argv, message):
    import torch

    if argv[1].startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert main(argv) == 2 and message in capsys.readouterr().err and not launched


def test_bad_numbers_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--concurrency", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_a_mel_model_loads_with_its_recorded_vocos(launched, mel_tts_dir, tiny_vocos):
    assert main(["--tts", str(mel_tts_dir), "--device", "cpu"]) == 0
    (demo, _), = launched
    status = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-status")
    assert "Not ready" not in status.value and "mel, 100-d at 93.75 Hz (24 kHz audio)" in status.value
    assert str(tiny_vocos.resolve()) in status.value and "see the checkpoint" in status.value


def test_a_codec_of_other_latents_is_refused_on_the_page(launched, mel_tts_dir, synthesizer, tmp_path):
    synthesizer.codec.save_pretrained(tmp_path / "wavcube")
    assert main(["--tts", str(mel_tts_dir), "--codec", str(tmp_path / "wavcube"), "--device", "cpu"]) == 0
    (demo, _), = launched
    status = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model-status")
    assert "Not ready" in status.value and "128-d at 50 Hz" in status.value and "100-d at 93.75 Hz" in status.value
