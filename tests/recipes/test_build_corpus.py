import shutil

import numpy as np
import pytest
import soundfile as sf

from recipes.build_corpus import CorpusConfig, build, clean_sentences, finish, pick_voices
from recipes.manifest import read_manifest

TEXTS = [f"The {a} {b} walked to the {c} market." for a in ("old", "young", "tall", "quiet")
         for b in ("man", "woman", "dog") for c in ("busy", "small")]


def test_clean_sentences_keeps_speakable_unique_ones():
    texts = ["The cat sat on the mat.", "the cat sat on the mat.", "THE CAT SAT ON THE MAT.",  # alike
             "Too short.", "Visit https://example.org now please.", "Caf\u00e9 society is over now.",
             "It has 22 blorfnicated zwibbles today.", "He paid $3 for 2 apples today.", "No final stop here",
             "A Win32-like shell for the people.", "It costs $ a lot today.", "A well-known tool - for you."]
    assert clean_sentences(texts, 4, 20) == ["The cat sat on the mat.", "He paid $3 for 2 apples today.",
                                             "A well-known tool - for you."]


def test_voices_are_distinct_and_seeded():
    voices = pick_voices(24, seed=0)
    assert len({v.name for v in voices}) == 24 and voices == pick_voices(24, seed=0)
    assert voices != pick_voices(24, seed=1)
    with pytest.raises(ValueError, match="voices asked for"):
        pick_voices(10_000, seed=0)


def test_finish_trims_silence_and_dithers():
    sr = 16000
    wav = np.zeros(sr * 2, dtype=np.float32)
    wav[sr // 2: sr] = 0.5 * np.sin(np.arange(sr // 2) * 0.1)
    out = finish(wav, sr, seed=0)
    assert abs(len(out) - (sr // 2 + 2 * 0.05 * sr)) <= sr // 100  # the tone plus 50 ms each side
    assert 1e-4 < out[:100].std() < 1e-3  # no digital silence left at the edges
    np.testing.assert_array_equal(out, finish(wav, sr, seed=0))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_build_splits_and_is_deterministic(tmp_path):
    config = CorpusConfig(voices=3, heldout_voices=1, heldout_voice_utterances=2, heldout_sentences=3,
                          max_train_utterances=4, human=False, seed=3)
    info = build(tmp_path / "a", config, texts=TEXTS)
    train, held_s, held_v = (read_manifest(tmp_path / "a" / f"{n}.tsv")
                             for n in ("train", "heldout_sentences", "heldout_voices"))
    assert len(train) >= 4 and len(held_s) == 3 and len(held_v) == 2
    assert info["train"]["utterances"] == len(train)
    texts = [u.text for u in train + held_s + held_v]
    assert len(set(texts)) == len(texts)  # every sentence said once: held-out sentences are not trained on
    assert not {u.speaker for u in held_v} & {u.speaker for u in train}
    assert {u.speaker for u in held_s} <= {u.speaker for u in train}
    for u in train + held_s + held_v:
        wav, sr = sf.read(u.path)
        assert abs(len(wav) / sr - u.duration) < 1e-3 and 0.5 < u.duration < 10
        assert np.abs(wav).max() > 0.05 and wav[:200].std() > 0  # speech, with no digital silence
    again = build(tmp_path / "b", config, texts=TEXTS)
    assert again["train"] == info["train"]
    assert (tmp_path / "a" / "wavs").rglob("*.wav").__next__().read_bytes() == \
        (tmp_path / "b" / "wavs").rglob("*.wav").__next__().read_bytes()


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed (apt-get install sox)")
def test_human_prompts_are_speakable_and_convert(tmp_path):
    from recipes.build_corpus import asterisk_prompts, convert_human

    prompts = asterisk_prompts(max_words=20)
    if not prompts:
        pytest.skip("asterisk-core-sounds-en is not installed")
    assert len(prompts) > 400 and len({t for _, t in prompts}) == len(prompts)
    assert not any("(" in t or "[" in t for _, t in prompts)
    gsm, _ = prompts[0]
    duration = convert_human(gsm, tmp_path / "h.wav", seed=0)
    wav, sr = sf.read(tmp_path / "h.wav")
    assert sr == 8000 and 0.2 < duration == len(wav) / sr
