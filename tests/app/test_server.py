"""`clone_voice`, the function behind the page and the API: audio for good input, a specific message for bad."""
import logging

import gradio as gr
import numpy as np
import pytest
import torch

from app.models import ModelStatus, load_synthesizer
from app.server import clone_voice

from .conftest import OPTIONS, REF_TEXT, SR


def test_returns_audio_and_the_seed_that_repeats_it(service, synthesizer, refs):
    stages = []
    (sr, wav), seed = clone_voice(service, "Good morning, everyone.", refs["good"], REF_TEXT,
                                  progress=lambda fraction, desc: stages.append((fraction, desc)))
    assert sr == SR and wav.dtype == np.int16 and wav.ndim == 1 and wav.shape[0] > SR // 10
    assert np.abs(wav).max() > 0
    assert [f for f, _ in stages] == sorted(f for f, _ in stages) and len(stages) >= 3
    assert any("1 sentence" in desc for _, desc in stages)
    assert any("spoken 1 of 1 pieces" in desc for _, desc in stages)  # the synthesizer reports its batches
    (_, again), same = clone_voice(service, "Good morning, everyone.", refs["good"], REF_TEXT, seed=f" {seed} ")
    assert same == seed and np.array_equal(wav, again)
    seeds = {clone_voice(service, "Hi.", refs["good"], REF_TEXT, seed="")[1] for _ in range(3)}
    assert len(seeds) == 3  # an empty seed is drawn anew each time


def test_text_is_normalised_once_per_request(service, synthesizer, refs, monkeypatch):
    import tts.text as frontend

    seen = []
    normalize = frontend.normalize_text
    monkeypatch.setattr(frontend, "normalize_text", lambda text: seen.append(text) or normalize(text))
    text = "Dr. Smith paid $3.50 at 3:30. Then, with 2 friends, he left!"
    (_, wav), seed = clone_voice(service, text, refs["good"], REF_TEXT, seed=4)
    assert seen == [text, REF_TEXT]  # each input once, where it enters (Synthesizer.prepare)
    monkeypatch.setattr(frontend, "normalize_text", normalize)
    (_, again), _ = clone_voice(service, normalize(text), refs["good"], normalize(REF_TEXT), seed=4)
    assert np.array_equal(wav, again)  # what the model reads is the normalised text, whoever normalised it


def test_the_seed_shown_repeats_the_audio_in_the_cli(service, synthesizer, refs, tmp_path):
    """The seed is drawn in one place (Synthesizer.prepare): the page's drawn seed, given to the CLI with the
    same settings, gives the same audio."""
    import soundfile as sf

    from tts.cli import main

    (sr, wav), seed = clone_voice(service, "Good morning, everyone.", refs["good"], REF_TEXT, seed="")
    synthesizer.model.save_pretrained(tmp_path / "tts")
    synthesizer.codec.save_pretrained(tmp_path / "codec")
    assert main(["synth", "--text", "Good morning, everyone.", "--ref", refs["good"], "--ref-text", REF_TEXT,
                 "--out", str(tmp_path / "out.wav"), "--model", str(tmp_path / "tts"), "--codec",
                 str(tmp_path / "codec"), "--device", "cpu", "--nfe", str(OPTIONS.nfe), "--seed", str(seed)]) == 0
    cli, cli_sr = sf.read(tmp_path / "out.wav", dtype="int16")
    assert cli_sr == sr and cli.shape == wav.shape
    assert np.abs(cli.astype(int) - wav.astype(int)).max() <= 1  # 16-bit rounding of the same samples


def test_f5_models_get_text_as_written(f5_reference, refs, status, voices):
    """The text is checked by the synthesizer's tokenizer, not by English normalisation in the app: F5-TTS's
    models speak Chinese."""
    import json

    from app.service import Service
    from tts import SynthesisOptions, Synthesizer, load_f5_checkpoint

    from ..tts.test_f5_rules import StandInMelCodec

    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    model = load_f5_checkpoint(f5_reference / "model.safetensors", f5_reference / "vocab.txt", arch)
    f5 = Service.create(Synthesizer(model, StandInMelCodec(), transcriber=lambda wav, sr: "unused",
                                    options=SynthesisOptions(nfe=2)), status, voices)
    (sr, wav), _ = clone_voice(f5, "你好，世界。", refs["good"], "hello there, my good friend.", seed=0)
    assert sr == 24000 and wav.shape[0] > 0
    with pytest.raises(gr.Error, match="Text: text is empty"):
        clone_voice(f5, " ", refs["good"], REF_TEXT)


def test_settings_reach_the_synthesizer(service, synthesizer, refs):
    def speak(**settings) -> np.ndarray:
        (_, wav), _ = clone_voice(service, "Seven short words are spoken right here.", refs["good"], REF_TEXT,
                                  **{"seed": 1, **settings})
        return wav

    normal = speak()
    assert np.array_equal(speak(), normal)  # the same settings repeat the audio
    assert np.abs(normal).max() < 32767  # not clipped flat: a changed setting shows in the samples
    for name, value in [("nfe", 2), ("cfg", 0.0), ("seed", 2)]:
        other = speak(**{name: value})
        assert other.shape == normal.shape and not np.array_equal(other, normal), name
    fast = speak(speed=2.0)
    assert abs(fast.shape[0] - normal.shape[0] / 2) < 0.1 * normal.shape[0]


def test_empty_transcript_is_transcribed(service, synthesizer, refs):
    calls = synthesizer.transcriber.calls
    (_, wav), _ = clone_voice(service, "Good morning.", refs["good"], "  ", seed=0)
    assert synthesizer.transcriber.calls == calls + 1 and wav.shape[0] > 0


def test_remove_silence_never_lengthens(service, synthesizer, refs):
    (_, kept), _ = clone_voice(service, "One. Two. Three.", refs["good"], REF_TEXT, seed=3)
    (_, removed), _ = clone_voice(service, "One. Two. Three.", refs["good"], REF_TEXT, seed=3, remove_silence=True)
    assert 0 < removed.shape[0] <= kept.shape[0]


@pytest.mark.parametrize("text, ref, settings, message", [
    ("", "good", {}, "Text: text is empty"),
    ("   \n", "good", {}, "Text: text is empty"),
    ("?! ...", "good", {}, "Text: text has nothing speakable"),
    ("word " * 300, "good", {}, r"Text: text is 1499 characters long as it will be said .*; the limit is max_chars=1000"),
    ("Hello.", None, {}, "Reference: upload or record a clip"),
    ("Hello.", "silent", {}, "Reference: the reference audio is silent"),
    ("Hello.", "short", {}, r"Reference: the reference holds 0\.\d+ s of sound .* at least 1 s is needed"),
    ("Hello.", "unreadable", {}, r"Reference: cannot read audio file broken\.wav: .*Accepted formats: \.wav"),
    ("Hello.", "wrong_type", {}, r"Reference: wrong file type '\.txt' \(notes\.txt\); use an audio file: \.wav"),
    ("Hello.", "good", {"speed": 0}, r"Settings: speed must be a number from 0\.25 to 4\.0, got 0"),
    ("Hello.", "good", {"nfe": 2.5}, r"Settings: nfe must be a whole number from 1 to 128, got 2\.5 \(the 'steps'"),
    ("Hello.", "good", {"nfe": float("nan")}, r"Settings: nfe must be a whole number from 1 to 128, got nan"),
    ("Hello.", "good", {"cfg": -1}, r"Settings: cfg must be a number from 0\.0 to 10\.0, got -1 \(the 'cfg_str"),
    ("Hello.", "good", {"cfg": float("inf")}, r"Settings: cfg must be a number .* got inf"),
    ("Hello.", "good", {"cfg": True}, r"Settings: cfg must be a number .* got True"),
    ("Hello.", "good", {"seed": -3}, "Settings: seed must be a whole number from 0"),
    ("Hello.", "good", {"seed": "4.5"}, "Settings: seed must be a whole number from 0 .* got '4.5'"),
    ("Hello.", "good", {"speed": "fast"}, "Settings: speed must be a number from 0.25 to 4.0, got 'fast'"),
    ("Hello.", "long", {}, "Reference: the file is 61 s long; the limit is 60 s"),
])
def test_bad_input_gets_a_specific_message(service, synthesizer, refs, text, ref, settings, message):
    with pytest.raises(gr.Error, match=message) as info:
        clone_voice(service, text, refs.get(ref), REF_TEXT, **settings)
    assert refs["good"].rsplit("/", 1)[0] not in info.value.message  # no server paths on the page


def test_bad_transcript_gets_a_specific_message(service, synthesizer, refs, monkeypatch):
    with pytest.raises(gr.Error, match="Reference: the reference transcript: text has nothing speakable"):
        clone_voice(service, "Hello.", refs["good"], "?!")
    monkeypatch.setattr(synthesizer, "transcriber", lambda wav, sr: "")
    with pytest.raises(gr.Error, match="Reference: the ASR heard no words in the reference; pass the reference "
                                       "transcript"):
        clone_voice(service, "Hello.", refs["good"], "")


def test_unexpected_failure_is_logged_and_answered(service, synthesizer, refs, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(synthesizer, "generate", broken)
    with caplog.at_level(logging.ERROR, logger="app.server"), pytest.raises(gr.Error, match="RuntimeError: boom"):
        clone_voice(service, "Hello.", refs["good"], REF_TEXT)
    assert "synthesis failed" in caplog.text and "Traceback" in caplog.text


def test_missing_checkpoint_says_what_and_how(synthesizer, tmp_path):
    cpu = torch.device("cpu")
    loaded, status = load_synthesizer(None, "yhaha/WavCube", "openai/whisper-large-v3-turbo", cpu)
    assert loaded is None and not status.ready
    assert "CUBETTS_TTS" in status.problem and "recipes.train_tts" in status.problem
    assert "slow" in status.markdown() and "Not ready" in status.markdown()
    loaded, status = load_synthesizer(str(tmp_path / "nowhere"), "yhaha/WavCube", "whisper", cpu, OPTIONS)
    assert loaded is None and f"TTS model not found: {tmp_path / 'nowhere'}" in status.problem
    assert "train_tts" in status.problem and "CUBETTS_CODEC" not in status.problem  # only the TTS hint
    synthesizer.model.save_pretrained(tmp_path / "tts")
    loaded, status = load_synthesizer(str(tmp_path / "tts"), str(tmp_path / "no-codec"), "whisper", cpu, OPTIONS)
    assert loaded is None and "codec checkpoint not found" in status.problem and "CUBETTS_CODEC" in status.problem


def test_ready_status(status):
    assert status.ready and isinstance(status, ModelStatus)
    assert "tiny random TTS" in status.markdown() and "Not ready" not in status.markdown()


def test_unavailable_asr_is_answered_at_once_with_what_to_do(service, synthesizer, refs, monkeypatch):
    from tts.asr import WhisperTranscriber

    asr = WhisperTranscriber("nobody/no-such-whisper", retry_seconds=60)
    monkeypatch.setattr(WhisperTranscriber, "_load", lambda self: (_ for _ in ()).throw(OSError("hub unreachable")))
    monkeypatch.setattr(synthesizer, "transcriber", asr)
    for _ in range(2):  # the second request gets the remembered failure
        with pytest.raises(gr.Error, match="Reference transcript: none was given, and the speech recognizer "
                                           "'nobody/no-such-whisper' could not be loaded .*hub unreachable.*Pass "
                                           "the reference transcript"):
            clone_voice(service, "Hello.", refs["good"], "")
    assert asr._failure is not None


def test_requests_at_once_are_batched_and_each_gets_its_own_audio(service, synthesizer, refs):
    import threading

    from app.service import Service

    requests = [("Good morning, everyone.", 1), ("Hi.", 2), ("One. Two. Three.", 3)]
    alone = [clone_voice(service, text, refs["good"], REF_TEXT, seed=seed)[0][1] for text, seed in requests]
    batched = Service.create(synthesizer, service.status, service.voices, concurrency=4)
    batcher = batched.batcher
    started, release = threading.Event(), threading.Event()
    generate = synthesizer.generate

    def first_call_waits(jobs, batch_size=None):  # the first request holds the model while the others arrive
        started.set()
        release.wait(120)
        return generate(jobs, batch_size)

    together = {}
    try:
        synthesizer.generate = first_call_waits
        threads = [threading.Thread(target=lambda i=i, text=text, seed=seed: together.__setitem__(
            i, clone_voice(batched, text, refs["good"], REF_TEXT, seed=seed)[0][1]))
            for i, (text, seed) in enumerate(requests)]
        threads[0].start()
        assert started.wait(120)  # the first request is being generated alone
        for t in threads[1:]:
            t.start()
        for _ in range(12000):  # the other two wait in the queue (a kept reference makes this quick)
            if batcher._queue.qsize() == len(requests) - 1:
                break
            threading.Event().wait(0.01)
        release.set()
        for t in threads:
            t.join(60)
    finally:
        del synthesizer.generate
    assert sorted(batcher.batch_sizes) == [1, 2]
    for i, wav in enumerate(alone):
        assert together[i].shape == wav.shape
        assert abs(together[i].astype(int) - wav.astype(int)).max() <= 2  # int16 samples; float rounding only


def test_the_page_streams_pieces_then_offers_the_whole_speech(service, refs):
    """The page's button (`speak_streamed`): each generated piece as WAV bytes for the player, then the whole
    speech for the download; without ffmpeg (no streamed player) only the whole speech."""
    import asyncio
    import io

    import soundfile as sf

    from app.server import speak_streamed

    text = "Good morning, everyone. This is a longer text, in several pieces, spoken as it is made."
    args = (text, refs["good"], REF_TEXT, None, None, None, "9", False, None)

    async def collect(streaming):
        return [update async for update in speak_streamed(service, *args, streaming=streaming)]

    updates = asyncio.run(collect(True))
    *pieces, (last, (sr, whole), seed) = updates
    assert len(pieces) > 1 and last is None and seed == "9" and sr == SR
    streamed = np.concatenate([sf.read(io.BytesIO(audio), dtype="int16")[0] for audio, _, _ in pieces])
    assert np.array_equal(streamed, whole)
    (only, (_, download), _), = asyncio.run(collect(False))
    assert only[0] == SR and np.array_equal(only[1], download) and len(download) > 0
