"""`python -m eval durations`: the duration rules of `tts/duration.py` side by side on real speech.

Protocol: each pair is a prompt (its transcript and length) and a target of the same speaker (its text and
real length); a rule predicts the target's frames from the prompt's (`rule.frames`, at WavCube's 50 Hz), and
the error is |predicted − real| / real seconds. Lengths are whole-file durations, as the pair list gives
them (leading and trailing silence included). Three sets:

- `librispeech-pc`: F5-TTS's LibriSpeech-PC test-clean cross-sentence list (1127 pairs, `../shared/eval`).
  Its prompts were chosen to match their target's UTF-8 bytes per second (for 92 % of the targets, the
  prompt is the one of its speaker's prompts in the list whose bytes per second are closest), so the
  byte rule is near exact on it by construction, not because bytes measure speech best.
- `librispeech-pc-all`: every same-speaker pair of the same utterances whose prompt lies in the protocol's
  prompt range and target in its target range (`eval.protocol`), with no such matching: the unbiased view.
- `realspeech`: every ordered pair of two utterances of one speaker in one corpus subset of
  `../shared/testdata/realspeech` (LibriSpeech, VCTK, LJSpeech; transcripts as the manifest gives them).
- `librispeech-pc-matched-bytes`, `librispeech-pc-matched-fitted`: the list's targets, each given the prompt
  (of its speaker's prompts in the list) on which that rule is nearest the truth: the list's selection
  redone with a rule of our choosing. Matched by bytes it reproduces most of the list's own pairings and
  its table; matched by `fitted` the two rules trade places. Whichever rule chose the prompts wins, so
  neither the list nor these sets can rank rules; the unmatched sets can.

Rules read the texts as a model would be given them: `bytes` both as written and normalised (F5-TTS models
read text as written, cubetts models normalised), the others normalise first themselves. None of these
sets may be used to fit a rule: `recipes/fit_duration.py` fits on training speech only.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tts.duration import (RULES, WEIGHTED_RULES, WEIGHTS_FILE, ByteRule, DurationRule, get_rule, normalized,
                          read_weights)

from .protocol import DEFAULT_PAIR_LIST, PROMPT_RANGE_S, TARGET_RANGE_S, read_pair_rows

FRAME_RATE = 50.0  # WavCube's latent rate: the frames a cubetts model is given
OFF_BY = 0.25  # the table's "pairs > 25 % off"
_TESTDATA = Path(os.environ.get("CUBETTS_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata"))
DEFAULT_REALSPEECH = _TESTDATA / "realspeech"
MATCHED = {"librispeech-pc-matched-bytes": "bytes", "librispeech-pc-matched-fitted": "fitted"}
SETS = ("librispeech-pc", "librispeech-pc-all", "realspeech", *MATCHED)


@dataclass(frozen=True)
class Spoken:
    """One utterance as the benchmark needs it: id, transcript, length in seconds."""

    id: str
    text: str
    seconds: float


@dataclass(frozen=True)
class DurationPair:
    prompt: Spoken
    target: Spoken


def read_pair_durations(path: str | os.PathLike = DEFAULT_PAIR_LIST) -> list[DurationPair]:
    """An F5-TTS-format list (`eval.protocol.read_pair_rows`) as prompt and target texts and lengths; unlike
    `eval.protocol.read_pair_list` it needs no audio."""
    pairs = [DurationPair(Spoken(r.ref_id, r.ref_text, r.ref_seconds), Spoken(r.gen_id, r.gen_text, r.gen_seconds))
             for r in read_pair_rows(path)]
    if not pairs:
        raise ValueError(f"{path}: no pairs")
    return pairs


def all_speaker_pairs(pairs: Sequence[DurationPair], prompt_range: tuple[float, float] = PROMPT_RANGE_S,
                      target_range: tuple[float, float] = TARGET_RANGE_S) -> list[DurationPair]:
    """Every same-speaker pair of the utterances in `pairs` (speaker = the id's leading field) with the prompt
    in `prompt_range` and the target in `target_range` seconds, in a fixed order."""
    spoken = {u.id: u for p in pairs for u in (p.prompt, p.target)}
    by_speaker: dict[str, list[Spoken]] = defaultdict(list)
    for u in sorted(spoken.values(), key=lambda u: u.id):
        by_speaker[u.id.split("-")[0]].append(u)
    return [DurationPair(p, t) for utts in by_speaker.values() for p in utts for t in utts
            if p.id != t.id and prompt_range[0] <= p.seconds <= prompt_range[1]
            and target_range[0] <= t.seconds <= target_range[1]]


def matched_pairs(pairs: Sequence[DurationPair], rule: DurationRule,
                  frame_rate: float = FRAME_RATE) -> list[DurationPair]:
    """Each target of `pairs` with the prompt that `rule` predicts it best from, among the prompts of `pairs`
    of the same speaker (the id's leading field) other than the target itself; ties go to the lower id."""
    prompts: dict[str, dict[str, Spoken]] = defaultdict(dict)
    for p in pairs:
        prompts[p.prompt.id.split("-")[0]][p.prompt.id] = p.prompt
    matched = []
    for pair in pairs:
        candidates = [u for u in prompts[pair.target.id.split("-")[0]].values() if u.id != pair.target.id]
        if not candidates:
            raise ValueError(f"target {pair.target.id}: its speaker has no other prompt in the list")
        best = min(candidates, key=lambda u: (errors(rule, [DurationPair(u, pair.target)], frame_rate=frame_rate)[0],
                                              u.id))
        matched.append(DurationPair(best, pair.target))
    return matched


def same_pairings(a: Sequence[DurationPair], b: Sequence[DurationPair]) -> float:
    """The fraction of targets given the same prompt in `a` and `b` (same targets, same order)."""
    return sum(x.prompt.id == y.prompt.id for x, y in zip(a, b, strict=True)) / len(a)


def realspeech_pairs(folder: str | os.PathLike = DEFAULT_REALSPEECH) -> list[DurationPair]:
    """Every ordered pair of two utterances of one speaker within one subset of a realspeech folder
    (`manifest.tsv`: id, transcript, duration_s, speaker, subset)."""
    manifest = Path(folder) / "manifest.tsv"
    if not manifest.is_file():
        raise FileNotFoundError(f"no manifest.tsv in {folder} (the realspeech test data; pass --realspeech)")
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    groups: dict[tuple[str, str], list[Spoken]] = defaultdict(list)
    for r in rows:
        groups[(r["subset"], r["speaker"])].append(Spoken(r["id"], r["transcript"], float(r["duration_s"])))
    return [DurationPair(p, t) for utts in groups.values() for p in utts for t in utts if p.id != t.id]


def errors(rule: DurationRule, pairs: Sequence[DurationPair], text: Callable[[str], str] = str,
           frame_rate: float = FRAME_RATE) -> list[float]:
    """|predicted − real| / real target seconds for each pair; `text` maps each text before the rule reads it."""
    out = []
    for pair in pairs:
        frames = rule.frames(text(pair.prompt.text), round(pair.prompt.seconds * frame_rate), text(pair.target.text),
                             1.0, frame_rate)
        out.append(abs(frames / frame_rate - pair.target.seconds) / pair.target.seconds)
    return out


def summary(errs: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(errs), "mean": statistics.fmean(errs),
            "off_25": sum(e > OFF_BY for e in errs) / len(errs)}


def rows_for(names: Sequence[str], weights: str | os.PathLike | None) -> list[tuple[str, str, DurationRule, Callable]]:
    """(rule, text form, rule object, text map) for each row of the table; `bytes` gets two rows."""
    record = read_weights(weights) if weights and set(WEIGHTED_RULES) & set(names) else None
    rows: list[tuple[str, str, DurationRule, Callable[[str], str]]] = []
    for name in names:
        if name == "bytes":
            rows += [("bytes", "as written", ByteRule(), str), ("bytes", "normalised", ByteRule(), normalized)]
        else:  # a weighted rule with the given weights, else the package's
            rows.append((name, "normalised", get_rule(name, record), str))
    return rows


def benchmark(sets: dict[str, list[DurationPair]], names: Sequence[str] = tuple(RULES),
              weights: str | os.PathLike | None = None) -> dict[str, list[dict]]:
    """Set name → one row per rule: rule, text, median, mean, off_25 (fractions) and the pair count."""
    rows = rows_for(names, weights)
    return {set_name: [{"rule": rule_name, "text": form, "pairs": len(pairs), **summary(errors(rule, pairs, fn))}
                       for rule_name, form, rule, fn in rows]
            for set_name, pairs in sets.items()}


def markdown(results: dict[str, list[dict]], notes: dict[str, str] | None = None) -> str:
    """One table per set, each under its name and, when `notes` has one, a line about it."""
    lines = []
    for set_name, rows in results.items():
        n = rows[0]["pairs"] if rows else 0
        lines += [f"{set_name} ({n} pairs)", ""] + ([notes[set_name], ""] if notes and set_name in notes else [])
        lines += [ "| rule | text | median error | mean error | pairs > 25 % off |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['rule']} | {r['text']} | {100 * r['median']:.1f} % | {100 * r['mean']:.1f} % | "
                  f"{100 * r['off_25']:.1f} % |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pairs", default=str(DEFAULT_PAIR_LIST), help="F5-TTS-format pair list (default %(default)s)")
    p.add_argument("--realspeech", default=str(DEFAULT_REALSPEECH),
                   help="realspeech folder with manifest.tsv (default %(default)s)")
    p.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="which pair sets (default: all)")
    p.add_argument("--rules", nargs="+", choices=list(RULES), default=list(RULES), help="which rules (default: all)")
    p.add_argument("--weights", help=f"fitted/learned weights to use instead of {WEIGHTS_FILE.name} "
                                     "(a python -m recipes.fit_duration output)")
    p.add_argument("--out", help="also write durations.json and durations.md into this folder")


def run_durations(args: argparse.Namespace) -> int:
    sets: dict[str, list[DurationPair]] = {}
    notes: dict[str, str] = {}
    if {"librispeech-pc", "librispeech-pc-all", *MATCHED} & set(args.sets):
        listed = read_pair_durations(args.pairs)
        if "librispeech-pc" in args.sets:
            sets["librispeech-pc"] = listed
        if "librispeech-pc-all" in args.sets:
            sets["librispeech-pc-all"] = all_speaker_pairs(listed)
        for set_name, rule_name in MATCHED.items():
            if set_name in args.sets:
                rule = next(r for name, _, r, fn in rows_for([rule_name], args.weights) if fn is str)
                sets[set_name] = matched_pairs(listed, rule)
                notes[set_name] = (f"Prompts chosen by `{rule_name}`: the list's own prompt for "
                                   f"{100 * same_pairings(sets[set_name], listed):.1f} % of its targets.")
    if "realspeech" in args.sets:
        sets["realspeech"] = realspeech_pairs(args.realspeech)
    results = benchmark(sets, args.rules, args.weights)
    table = markdown(results, notes)
    print(table)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "durations.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        (out / "durations.md").write_text(table, encoding="utf-8")
        print(f"wrote {out / 'durations.json'} and {out / 'durations.md'}")
    return 0
