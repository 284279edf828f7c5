"""recipes/fit_duration.py: the fit recovers the weights that made a synthetic corpus, and what it writes is what
the `fitted` and `learned` rules load (fit → weights → frames)."""
import json
import random

import numpy as np
import soundfile as sf

from recipes.fit_duration import Sample, fit, fit_units, main
from recipes.manifest import Utterance, write_manifest
from tts.duration import FittedRule, learned_rule, read_weights, unit_counts

TRUE_WEIGHTS = np.array([1.0, 1.5, 6.0, 9.0, 8.0])  # letters, boundaries, commas, sentence ends, utterance
RATES = {"slow": 0.08, "fast": 0.05}  # seconds per unit of two speakers
WORDS = ["the", "a", "cat", "sat", "on", "mat", "remarkable", "yesterday", "quietly", "sun", "over", "hills"]


def synthetic_corpus(n: int = 120, seed: int = 0) -> list[Sample]:
    """Texts of 1-12 words with commas and sentence ends, spoken exactly at TRUE_WEIGHTS and each speaker's rate."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 12))]
        text = ""
        for j, w in enumerate(words):
            text += w + (rng.choice([",", ".", "", "", ""]) if j < len(words) - 1 else ".") + " "
        speaker = "slow" if i % 2 else "fast"
        seconds = round(RATES[speaker] * float(np.dot(TRUE_WEIGHTS, unit_counts(text))), 4)  # as a manifest keeps it
        samples.append(Sample(text.strip(), seconds, speaker))
    return samples


def test_fit_recovers_the_weights_and_each_speakers_rate():
    samples = synthetic_corpus()
    weights, rate = fit_units(samples)
    assert np.allclose(weights, TRUE_WEIGHTS, rtol=1e-3)
    assert np.allclose(rate, [RATES[s.speaker] for s in samples], rtol=1e-3)


def test_fit_round_trip_through_the_weights_file(tmp_path):
    samples = synthetic_corpus()
    utts = []
    for i, s in enumerate(samples):  # a manifest needs audio that opens; its duration column is what counts
        wav = tmp_path / f"{i}.wav"
        sf.write(wav, np.zeros(160, dtype=np.float32), 16000)
        utts.append(Utterance(f"u{i}", str(wav), s.seconds, s.speaker, s.text))
    write_manifest(tmp_path / "train.tsv", utts)
    out = tmp_path / "weights.json"
    main(["--manifest", str(tmp_path / "train.tsv"), "--out", str(out)])

    record = read_weights(out)
    assert record["data"]["utterances"] == len(samples) and record["data"]["speakers"] == 2
    assert record == json.loads(json.dumps(fit(samples, record["data"]["source"])))  # the file is the fit
    rule = FittedRule.from_record(record["fitted"])
    assert np.allclose(rule.weights, TRUE_WEIGHTS, rtol=1e-3)
    # Frames of a pair spoken by the slow speaker, as its rate and the true weights make them.
    ref, text = "the cat sat on the mat.", "yesterday, quietly over the hills. the sun."
    ref_seconds = RATES["slow"] * float(np.dot(TRUE_WEIGHTS, unit_counts(ref)))
    expected = RATES["slow"] * float(np.dot(TRUE_WEIGHTS, unit_counts(text))) * 50
    assert abs(rule.frames(ref, round(ref_seconds * 50), text, 1.0, 50.0) - expected) <= 1
    # The learned predictor leans on the fitted units' ratio: on this exact corpus it is that ratio.
    learned = learned_rule(record)
    assert abs(learned.coefficients[0] - 1.0) < 0.05
    assert abs(learned.frames(ref, round(ref_seconds * 50), text, 1.0, 50.0) - expected) <= 0.05 * expected


def write_shards(folder, samples, per_shard=50):
    """Latent shards (4-d zeros) whose lengths are the samples' seconds at 50 Hz, as extraction writes them."""
    import torch

    from recipes.shards import save_stats, write_shard
    from tts.latent_norm import LatentNorm

    folder.mkdir()
    save_stats(folder, LatentNorm(4))
    for k in range(0, len(samples), per_shard):
        part = samples[k:k + per_shard]
        write_shard(folder / f"shard-{k // per_shard:05d}.safetensors", [f"u{k + i}" for i in range(len(part))],
                    [torch.zeros(round(s.seconds * 50), 4) for s in part], [s.text for s in part],
                    [s.speaker for s in part])
    return folder


def test_training_fits_on_its_shards_when_they_are_enough(tmp_path):
    from recipes.fit_duration import MIN_FIT_UTTERANCES, fit_for_training
    from recipes.train_tts import with_duration_fit
    from tts import TTSConfig

    samples = synthetic_corpus(n=MIN_FIT_UTTERANCES + 20)
    record = fit_for_training(write_shards(tmp_path / "enough", samples))
    assert record["data"]["utterances"] == len(samples) and "enough" in record["data"]["source"]
    weights = FittedRule.from_record(record["fitted"]).weights
    assert np.allclose(weights, TRUE_WEIGHTS, rtol=0.05)  # lengths rounded to 20 ms frames
    assert with_duration_fit(TTSConfig.tiny(), tmp_path / "enough").duration_weights == record
    few = write_shards(tmp_path / "few", samples[: MIN_FIT_UTTERANCES - 1])
    assert fit_for_training(few) is None
    assert with_duration_fit(TTSConfig.tiny(), few) == TTSConfig.tiny()  # the package's fit, kept
    phones = TTSConfig.tiny(duration_rule="phones")
    assert with_duration_fit(phones, tmp_path / "enough") is phones  # a rule without numbers: nothing to fit


def test_a_fit_is_written_into_a_saved_models_config(tmp_path):
    from tts import TTSConfig, TTSModel

    samples = synthetic_corpus()
    shards = write_shards(tmp_path / "shards", samples)
    TTSModel(TTSConfig.tiny(duration_rule="phones")).save_pretrained(tmp_path / "model")
    main(["--shards", str(shards), "--model", str(tmp_path / "model")])
    config = TTSModel.from_pretrained(tmp_path / "model").config
    assert config.duration_rule == "fitted" and "latent shards" in config.duration_weights["data"]["source"]
    assert np.allclose(FittedRule.from_record(config.duration_weights["fitted"]).weights, TRUE_WEIGHTS, rtol=0.05)
