"""Generating the test set with the model under test: batched, resumable, one WAV per target."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import torch
from tqdm import tqdm

from codec.audio import load_audio, save_audio
from codec.checkpoint import atomic_write

from .protocol import EvalPair

GENERATION_RECORD = "generation.json"
# How long each target is asked to be: the model's own duration rule, F5-TTS's eval estimate, or the real length.
DURATIONS = ("model", "f5", "truth")


@runtime_checkable
class Synthesizer(Protocol):
    """What the generation loop needs from a TTS model (`tts.Synthesizer` is one).

    `synthesize` returns only the new speech (not the prompt), as `(wav: (T,), sample_rate)`. A model may also
    offer `synthesize_batch(texts, ref_wav, ref_sr, ref_text, **options) -> ([wav_i: (T_i,)], sample_rate)`:
    several texts in one voice, each as `synthesize` would give it alone. It is used for targets that share
    a prompt (F5-TTS's list has 1127 targets on 448 prompts) when `batch_size > 1`, and, with
    `seconds=[new speech per text]`, for durations other than the model's own (`DURATIONS`).
    """

    def synthesize(self, text: str, ref_wav: torch.Tensor, ref_sr: int, ref_text: str | None = None,
                   **options: Any) -> tuple[torch.Tensor, int]: ...


def output_path(out_dir: str | os.PathLike, pair: EvalPair) -> Path:
    return Path(out_dir) / f"{pair.id}.wav"


def check_generation_record(out_dir: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Save `record` in `out_dir`, or refuse if a different one is there: never mix two systems' outputs."""
    path = Path(out_dir) / GENERATION_RECORD
    text = json.dumps(record, indent=2, sort_keys=True, default=str)
    if path.is_file():
        if json.loads(path.read_text()) != json.loads(text):
            raise ValueError(f"{out_dir} holds samples generated with other settings ({path}); "
                             "use another output directory or delete it to start over")
        return
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def checked_durations(durations: str) -> str:
    """`durations` if it names one of `DURATIONS`, else ValueError listing them."""
    if durations not in DURATIONS:
        raise ValueError(f"durations must be one of {DURATIONS}, got {durations!r}")
    return durations


def new_seconds(pair: EvalPair, durations: str, speed: float = 1.0) -> float | None:
    """How long the new speech of `pair` is asked to be: None for `model` (the model's own duration rule);
    for `f5`, F5-TTS's eval estimate (`eval/utils_eval.py`): the prompt's seconds per UTF-8 byte of its
    transcript as written (a space added after a one-byte final character) times the target text's bytes;
    for `truth`, the target's real length (F5-TTS's `use_truth_duration`). Both divided by `speed`."""
    checked_durations(durations)
    if durations == "model":
        return None
    if durations == "truth":
        return pair.target.duration / speed
    ref_text = pair.prompt.text + (" " if len(pair.prompt.text[-1:].encode("utf-8")) == 1 else "")
    return pair.prompt.duration / len(ref_text.encode("utf-8")) * len(pair.target.text.encode("utf-8")) / speed


def _synthesize(synthesizer: Synthesizer, chunk: Sequence[EvalPair], options: Mapping[str, Any],
                durations: str = "model") -> list[tuple[torch.Tensor, int]]:
    """Generate one chunk of pairs that share a prompt."""
    prompt = chunk[0].prompt
    ref_wav, ref_sr = load_audio(prompt.wav)  # at its own rate: the synthesizer resamples to its codec's
    texts = [p.target.text for p in chunk]
    if durations != "model":
        if not hasattr(synthesizer, "synthesize_batch"):
            raise ValueError(f"durations={durations!r} needs a synthesizer with synthesize_batch(..., seconds=...)")
        seconds = [new_seconds(p, durations, options.get("speed", 1.0)) for p in chunk]
        wavs, sr = synthesizer.synthesize_batch(texts, ref_wav, ref_sr, prompt.text, seconds=seconds, **options)
        return [(w, sr) for w in wavs]
    if len(chunk) > 1 and hasattr(synthesizer, "synthesize_batch"):
        wavs, sr = synthesizer.synthesize_batch(texts, ref_wav, ref_sr, prompt.text, **options)
        if len(wavs) != len(chunk):
            raise RuntimeError(f"synthesize_batch returned {len(wavs)} clips for {len(chunk)} texts")
        return [(w, sr) for w in wavs]
    return [synthesizer.synthesize(t, ref_wav, ref_sr, prompt.text, **options) for t in texts]


def _chunks_by_prompt(pairs: Sequence[EvalPair], batch_size: int) -> list[list[EvalPair]]:
    """Pairs grouped by prompt (first appearance order), each group cut into chunks of `batch_size`."""
    groups: dict[str, list[EvalPair]] = {}
    for p in pairs:
        groups.setdefault(p.prompt.id, []).append(p)
    return [list(g[i:i + batch_size]) for g in groups.values() for i in range(0, len(g), batch_size)]


def generate_test_set(
    synthesizer: Synthesizer,
    pairs: Sequence[EvalPair],
    out_dir: str | os.PathLike,
    record: Mapping[str, Any],
    batch_size: int = 1,
    options: Mapping[str, Any] | None = None,
    durations: str = "model",
) -> dict:
    """Write `<out_dir>/<target id>.wav` for every pair that has none yet; return timing counts.

    Resumable: existing outputs are kept (each is written atomically, so none is partial), and `record`
    (the system and its settings) must equal the one saved by the first run in `out_dir`. Targets that share
    a prompt are generated together, up to `batch_size` at a time. `options` go to every synthesize call.
    `durations` (`new_seconds`) sets each target's length: the model's own rule by default; `f5` estimates it
    from the prompt's bytes per second as F5-TTS's eval does (its published figures use it); `truth` gives
    the real length, a topline for the duration rule.
    """
    out_dir = Path(out_dir)
    options = dict(options or {})
    checked_durations(durations)  # before anything is written
    check_generation_record(out_dir, {**record, "options": options,
                                      **({"durations": durations} if durations != "model" else {})})
    pending = [p for p in pairs if not output_path(out_dir, p).is_file()]
    audio_s, start = 0.0, time.perf_counter()
    with tqdm(total=len(pairs), initial=len(pairs) - len(pending), desc="generate", unit="utt") as bar:
        for chunk in _chunks_by_prompt(pending, batch_size):
            for pair, (wav, sr) in zip(chunk, _synthesize(synthesizer, chunk, options, durations)):
                wav = wav.detach().float().cpu().reshape(-1)
                if wav.numel() == 0 or not torch.isfinite(wav).all():
                    raise RuntimeError(f"{pair.id}: the synthesizer returned empty or non-finite audio")
                save_audio(output_path(out_dir, pair), wav, sr)
                audio_s += wav.numel() / sr
            bar.update(len(chunk))
    elapsed = time.perf_counter() - start
    return {"pairs": len(pairs), "already_present": len(pairs) - len(pending), "generated": len(pending),
            "generated_audio_s": round(audio_s, 3), "wall_s": round(elapsed, 3),
            "rtf_including_io": round(elapsed / audio_s, 4) if audio_s else None}
