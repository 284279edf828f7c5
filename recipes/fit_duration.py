"""Fit the `fitted` and `learned` duration rules of `tts/duration.py` on training speech.

    python -m recipes.fit_duration                          # the human prompts → tts/data/duration_weights.json
    python -m recipes.fit_duration --manifest data/espeak/train.tsv --out /tmp/weights.json
    python -m recipes.fit_duration --shards data/latents --model runs/tts/ckpt/model   # into a model's config

Data: by default the human part of the offline corpus (`recipes.build_corpus`): the transcribed prompts of
Debian's `asterisk-core-sounds-en` (one speaker, Allison; `apt-get install asterisk-core-sounds-en`), chosen
and silence-trimmed exactly as the corpus builder does. `--manifest` fits on any manifest instead
(`recipes.manifest` format; durations as the manifest gives them, e.g. LibriTTS or a built corpus). Never fit
on the evaluation pairs (LibriSpeech-PC test-clean, `../shared/testdata/realspeech`): they are the test sets of
`python -m eval durations`. `--shards` fits on latent shards (lengths from their frames, as `recipes.train_tts`
does when it starts: a model it trains records the numbers fitted on its own training speech), and `--model`
writes the fit into a saved model's `config.json` (`duration_weights`) instead of a weights file.

`fitted`: seconds ≈ rate(speaker) × Σ weight × unit count (`tts.duration.UNITS`, letters weighing 1),
fitted by alternating least squares on relative error (a speaker's rate given the weights, the weights given
the rates), Huber-weighted so that a transcript that does not match its audio counts little; a weight that
comes out negative is dropped (set to 0: no unit shortens speech). `learned`: ridge regression on same-speaker
(prompt, target) pairs, prompts at least `MIN_PROMPT_SECONDS` long, with its penalty chosen by 5-fold
cross-validation grouped by target.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts.duration import (LEARNED_FEATURES, UNITS, WEIGHTS_FILE, FittedRule, LearnedRule, fit_record,
                          learned_features, unit_counts)

logger = logging.getLogger(__name__)

MIN_PROMPT_SECONDS = 1.0  # the synthesizer refuses shorter references (tts MIN_REF_SECONDS)
RATE_MARGIN = 2.0  # the rate range is the training speech's 1st-99th percentile, widened by this factor each way
RATE_MIN_WORDS = 3  # utterances that set the rate range: shorter ones are mostly onset and release
MIN_WORD_MARGIN = 0.5  # the per-word floor: this fraction of the training speech's 1st percentile of seconds/word
HUBER = 1.5  # residuals beyond this many robust standard deviations are down-weighted
RIDGE_PENALTIES = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # per pair, on standardised features
MIN_FIT_UTTERANCES = 100  # less training speech than this keeps the package's fit (recipes.train_tts)
MAX_PAIR_UTTERANCES = 40  # per speaker, for the learned rule's pairs (a fixed draw): 1,560 pairs, not n²


@dataclass(frozen=True)
class Sample:
    """One training utterance: its transcript, its length in seconds (silence trimmed) and its speaker."""

    text: str
    seconds: float
    speaker: str


def asterisk_samples(max_words: int | None = None) -> list[Sample]:
    """The corpus builder's human prompts, converted and trimmed as it does (into a temporary folder)."""
    from recipes.build_corpus import ASTERISK_SPEAKER, CorpusConfig, asterisk_prompts, convert_human

    prompts = asterisk_prompts(max_words or CorpusConfig().max_words)
    if not prompts:
        raise FileNotFoundError("no asterisk prompts found: apt-get install asterisk-core-sounds-en "
                                "(or pass --manifest)")
    with tempfile.TemporaryDirectory() as tmp:
        return [Sample(text, convert_human(gsm, Path(tmp) / f"{i}.wav", seed=0), ASTERISK_SPEAKER)
                for i, (gsm, text) in enumerate(prompts)]


def manifest_samples(paths: Sequence[str | Path]) -> list[Sample]:
    from recipes.manifest import read_manifest

    return [Sample(u.text, u.duration, u.speaker) for p in paths for u in read_manifest(p)]


def shard_samples(shards: str | Path) -> list[Sample]:
    """Every utterance of a latent shard folder, its length its frames at the shards' frame rate."""
    from recipes.shards import list_shards, read_index
    from recipes.train_tts import shard_frame_rate

    rate = shard_frame_rate(shards)
    samples = []
    for path in list_shards(shards):
        index = read_index(path)
        samples += [Sample(text, n / rate, speaker)
                    for text, n, speaker in zip(index["texts"], index["lengths"], index["speakers"])]
    return samples


def fit_for_training(shards: str | Path) -> dict | None:
    """The fit's record on the training shards, for the model being trained to record; None (said in the log)
    when they hold fewer than MIN_FIT_UTTERANCES utterances, or too few kinds of text to fit."""
    samples = [s for s in shard_samples(shards) if unit_counts(s.text)[0]]
    if len(samples) < MIN_FIT_UTTERANCES:
        logger.info("durations: %d training utterances are too few to fit on (at least %d); the model records "
                    "the package's fit", len(samples), MIN_FIT_UTTERANCES)
        return None
    try:
        record = fit(samples, f"the training shards {shards}")
    except ValueError as err:
        logger.warning("durations: cannot fit on the training shards (%s); the model records the package's fit", err)
        return None
    logger.info("durations: fitted on %d training utterances: %s", len(samples), record["fitted"]["weights"])
    return record


def record_in_model(directory: str | Path, record: dict) -> None:
    """Write a fit's record into a saved cubetts model's config.json (atomically) as its `duration_weights`; a
    model whose duration rule has no weights is switched to `fitted`, and the log says so."""
    import dataclasses

    from codec.checkpoint import read_model_config, write_model_config
    from tts.duration import WEIGHTED_RULES
    from tts.model import MODEL_TYPE, TTSConfig

    config = TTSConfig.from_dict(read_model_config(Path(directory), MODEL_TYPE, "TTS model"))
    if config.rules != "cubetts":
        raise ValueError(f"{directory} is a model of F5-TTS's rules, which keep F5-TTS's own duration rule")
    rule = config.duration_rule if config.duration_rule in WEIGHTED_RULES else "fitted"
    if rule != config.duration_rule:
        logger.info("%s: duration rule %r → 'fitted', to use the fit", directory, config.duration_rule)
    config = dataclasses.replace(config, duration_rule=rule, duration_weights=record)
    write_model_config(Path(directory), MODEL_TYPE, config.to_dict())


def _huber(residual: np.ndarray) -> np.ndarray:
    scale = max(float(np.median(np.abs(residual))) * 1.4826, 1e-6)
    return np.minimum(1.0, HUBER * scale / np.maximum(np.abs(residual), 1e-12))


def fit_units(samples: Sequence[Sample], iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """The unit weights (letters = 1) and each sample's speaker rate (seconds per unit)."""
    X = np.array([unit_counts(s.text) for s in samples], dtype=float)  # (n, len(UNITS))
    y = np.array([s.seconds for s in samples])
    speakers = sorted({s.speaker for s in samples})
    spk = np.array([speakers.index(s.speaker) for s in samples])
    rate = np.array([np.median(y[spk == k] / np.maximum(X[spk == k, 0], 1)) for k in range(len(speakers))])
    robust = np.ones(len(y))
    active = np.ones(X.shape[1], bool)
    w = np.zeros(X.shape[1])
    for _ in range(iterations):
        # Weights given rates: minimise Σ robust × ((rate X w − y) / y)².
        A = X * (rate[spk] / y)[:, None] * np.sqrt(robust)[:, None]
        b = np.sqrt(robust)
        while True:
            w = np.zeros(X.shape[1])
            w[active] = np.linalg.lstsq(A[:, active], b, rcond=None)[0]
            if (w >= 0).all():
                break
            active &= w > 0  # a negative weight: that unit is dropped
        if w[0] <= 0:
            raise ValueError("duration fit: letters got no weight; the training texts are too few or too alike")
        rate *= w[0]
        w /= w[0]
        # Rates given weights: each speaker's relative-error least squares.
        U = X @ w
        for k in range(len(speakers)):
            m = spk == k
            q = robust[m] * U[m] / y[m] ** 2
            rate[k] = float((q * y[m]).sum() / (q * U[m]).sum())
        robust = _huber((rate[spk] * U - y) / y)
    return w, rate[spk]


def fit_fitted(samples: Sequence[Sample]) -> FittedRule:
    w, _ = fit_units(samples)
    counts = np.array([unit_counts(s.text) for s in samples], dtype=float)
    seconds = np.array([s.seconds for s in samples])
    words = counts[:, 1] + (counts[:, 0] > 0)
    long_enough = words >= RATE_MIN_WORDS if (words >= RATE_MIN_WORDS).any() else words > 0
    low, high = np.percentile(seconds[long_enough] / (counts[long_enough] @ w), [1, 99])
    min_word = MIN_WORD_MARGIN * float(np.percentile(seconds[words > 0] / words[words > 0], 1))
    return FittedRule(tuple(float(round(v, 4)) for v in w), (round(float(low) / RATE_MARGIN, 5),
                      round(float(high) * RATE_MARGIN, 5)), round(min_word, 4))


def training_pairs(samples: Sequence[Sample], units: FittedRule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every same-speaker (prompt, target) pair with a prompt of at least MIN_PROMPT_SECONDS: features
    (pairs, len(LEARNED_FEATURES)), log(target / prompt seconds) (pairs,), target index (pairs,)."""
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        if unit_counts(s.text)[0]:
            by_speaker[s.speaker].append(i)
    X, y, target = [], [], []
    for ids in by_speaker.values():
        if len(ids) > MAX_PAIR_UTTERANCES:  # a fixed draw, the same on every run
            ids = sorted(ids, key=lambda i: zlib.crc32(f"{i}:{samples[i].text}".encode()))[:MAX_PAIR_UTTERANCES]
        for p in ids:
            if samples[p].seconds < MIN_PROMPT_SECONDS:
                continue
            for t in ids:
                if t != p:
                    X.append(learned_features(units, samples[p].text, samples[p].seconds, samples[t].text))
                    y.append(np.log(samples[t].seconds / samples[p].seconds))
                    target.append(t)
    if not X:
        raise ValueError(f"no training pairs: every speaker needs two utterances, one of them at least "
                         f"{MIN_PROMPT_SECONDS} s long")
    return np.array(X), np.array(y), np.array(target)


def _ridge(X: np.ndarray, y: np.ndarray, penalty: float) -> tuple[float, np.ndarray]:
    """Centred features X → (intercept, coefficients) minimising mean squared error + penalty × |coef|²."""
    n = len(y)
    coef = np.linalg.solve(X.T @ X / n + penalty * np.eye(X.shape[1]), X.T @ (y - y.mean()) / n)
    return float(y.mean()), coef


def fit_learned(samples: Sequence[Sample], units: FittedRule, folds: int = 5) -> LearnedRule:
    X, y, target = training_pairs(samples, units)
    mean = X.mean(0)
    scale = np.maximum(X.std(0), 1e-9)
    Z = (X - mean) / scale
    fold = np.array([zlib.crc32(str(t).encode()) % folds for t in target])
    errors = []
    for penalty in RIDGE_PENALTIES:
        err = 0.0
        for k in range(folds):
            train, test = fold != k, fold == k
            if not train.any() or not test.any():
                continue
            b0, coef = _ridge(Z[train] - Z[train].mean(0), y[train], penalty)
            err += float(np.sum((b0 + (Z[test] - Z[train].mean(0)) @ coef - y[test]) ** 2))
        errors.append(err)
    penalty = RIDGE_PENALTIES[int(np.argmin(errors))]
    b0, coef = _ridge(Z, y, penalty)
    logger.info("learned predictor: ridge penalty %g (5-fold CV over %d pairs)", penalty, len(y))
    return LearnedRule(units, round(b0, 6), tuple(round(float(c), 6) for c in coef / scale),
                       tuple(round(float(m), 6) for m in mean), units.min_word_seconds)


def describe(samples: Sequence[Sample], source: str) -> dict:
    return {"source": source, "utterances": len(samples), "hours": round(sum(s.seconds for s in samples) / 3600, 4),
            "speakers": len({s.speaker for s in samples}), "script": "python -m recipes.fit_duration",
            "units": list(UNITS), "learned_features": list(LEARNED_FEATURES)}


def fit(samples: Sequence[Sample], source: str) -> dict:
    """The record `tts.duration.read_weights` reads: both rules fitted on `samples`."""
    fitted = fit_fitted(samples)
    return fit_record(fitted, fit_learned(samples, fitted), describe(samples, source))


def main(argv: list[str] | None = None) -> None:
    import json

    from codec.checkpoint import atomic_write

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_mutually_exclusive_group()
    data.add_argument("--manifest", nargs="+", help="fit on these manifests instead of the asterisk prompts")
    data.add_argument("--shards", help="fit on a latent shard folder (recipes.extract_latents) instead")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", default=str(WEIGHTS_FILE), help="where to write the weights (default %(default)s)")
    where.add_argument("--model", help="write them into this saved model's config.json instead")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.manifest:
        samples, source = manifest_samples(args.manifest), "manifests: " + ", ".join(args.manifest)
    elif args.shards:
        samples, source = shard_samples(args.shards), f"latent shards: {args.shards}"
    else:
        samples = asterisk_samples()
        source = ("asterisk-core-sounds-en (en_US_f_Allison): the human prompts of recipes.build_corpus, "
                  "silence trimmed to 50 ms")
    record = fit(samples, source)
    if args.model:
        record_in_model(args.model, record)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n",
                                                                encoding="utf-8"))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
