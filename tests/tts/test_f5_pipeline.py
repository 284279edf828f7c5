"""F5-TTS exact: each case that F5-TTS 1.1.22's own `F5TTS.infer` recorded (tests/data/f5_pipeline, made by its
generate.py in a side environment) gives F5-TTS's waveform through `Synthesizer`, with the same seed."""
import pytest
import torch

from eval.f5_parity import FIXTURE, TOLERANCE, expected_wav, load_fixture, run_case, synthesizer

if not (FIXTURE / "pipeline.pt").is_file():
    pytest.skip("the F5-TTS pipeline fixture is not generated", allow_module_level=True)

FIX = load_fixture()
CASES = {case["name"]: case for case in FIX["cases"]}


@pytest.fixture(scope="module")
def synths():
    torch.set_num_threads(1)
    return {key: synthesizer(FIX, key) for key in FIX["models"]}


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if len(c["chunks"]) == 1])
def test_single_chunk_gives_f5s_waveform(synths, name):
    case = CASES[name]
    wav, pieces = run_case(synths[case["model"]], case)
    (chunk,) = case["per_chunk"]
    assert [p.ids for p in pieces] == [(torch.as_tensor(chunk["token_ids"]).flatten() + 1).tolist()]  # ours: +1
    assert [p.length for p in pieces] == [chunk["duration"]]
    f5 = expected_wav(case)
    assert wav.shape == f5.shape
    assert ((wav - f5).norm() / f5.norm()).item() < TOLERANCE


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if len(c["chunks"]) > 1])
def test_several_chunks_get_f5s_chunks_frames_and_joins(synths, name):
    case = CASES[name]
    wav, pieces = run_case(synths[case["model"]], case)
    assert [p.text for p in pieces] == case["chunks"]
    assert [p.length for p in pieces] == [c["duration"] for c in case["per_chunk"]]
    assert wav.shape[0] == case["wav_len"]  # each chunk's length, less F5-TTS's cross-fades


def test_the_reference_is_prepared_as_f5_tts_prepares_it(synths):
    for case in FIX["cases"]:
        synth = synths[case["model"]]
        call = case["call"]
        ref = synth.prepare_reference(FIXTURE / call["ref_file"], None, call["ref_text"], synth.options)
        chunk = case["per_chunk"][0]
        assert ref.text == case["ref_text_model"], case["name"]
        assert ref.frames == chunk["ref_audio_len"] and ref.wav.shape[0] == chunk["cond_samples"], case["name"]
        assert ref.latent.shape[0] == chunk["cond_frames"], case["name"]
        assert (ref.gain != 1.0) == case["rms_scaled"], case["name"]
