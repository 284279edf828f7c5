"""Scoring a zero-shot TTS test set (WER, SIM-o, SIM to the target) and writing its report."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from codec.audio import load_audio

from .asr import ASR, batched
from .protocol import EvalPair
from .report import (fmt, load_published, md_config, md_table, mean_summary, models_match, new_report,
                     write_reports)
from .speaker import SpeakerScorer
from .wer import summarize_wer

SCORING_SAMPLE_RATE = 16000  # ASR and speaker models both take 16 kHz; every clip is resampled to it
WORST_SHOWN = 10


def _embed_files(scorer: SpeakerScorer, paths: Sequence[Path], batch_size: int, desc: str) -> dict[Path, torch.Tensor]:
    unique = sorted(set(paths))
    out: dict[Path, torch.Tensor] = {}
    for chunk in tqdm(list(batched(unique, batch_size)), desc=desc, unit="batch", leave=False):
        embs = scorer.embed([load_audio(p, SCORING_SAMPLE_RATE)[0] for p in chunk], SCORING_SAMPLE_RATE)
        out.update(zip(chunk, embs))
    return out


def score_zero_shot(
    pairs: Sequence[EvalPair], audio: Sequence[str | os.PathLike], asr: ASR, scorer: SpeakerScorer,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Score `audio[i]`, the speech generated for `pairs[i]`; return `{"summary": ..., "utterances": [...]}`.

    - WER: `asr` transcript of the generated audio against the target text, F5-TTS normalisation
      (`normalize_text`); both the mean of per-utterance WERs (what F5-TTS reports) and corpus WER.
    - SIM-o: cosine between the generated audio and the prompt's *original recording* (F5-TTS's SIM-o; not
      a codec-resynthesised prompt, which would give SIM-r).
    - SIM-target: cosine between the generated audio and the target's own recording (same speaker, same text;
      1 for a ground-truth run).
    Means are over all pairs; the scale of SIM depends on `scorer` (resemblyzer ≠ the papers' WavLM-ECAPA).
    """
    if len(pairs) != len(audio):
        raise ValueError(f"{len(pairs)} pairs but {len(audio)} audio files")
    paths = [Path(a) for a in audio]
    hyps: list[str] = []
    durations: list[float] = []
    gen_emb: list[torch.Tensor] = []
    for chunk in tqdm(list(batched(paths, batch_size)), desc="score", unit="batch"):
        wavs = [load_audio(p, SCORING_SAMPLE_RATE)[0] for p in chunk]
        hyps += asr.transcribe(wavs, SCORING_SAMPLE_RATE)
        gen_emb += list(scorer.embed(wavs, SCORING_SAMPLE_RATE))
        durations += [w.numel() / SCORING_SAMPLE_RATE for w in wavs]
    refs = _embed_files(scorer, [p.prompt.wav for p in pairs] + [p.target.wav for p in pairs], batch_size,
                        "embed references")
    wer = summarize_wer([p.target.text for p in pairs], hyps)
    rows: list[dict[str, Any]] = []
    for pair, path, u, emb, dur in zip(pairs, paths, wer.utterances, gen_emb, durations):
        rows.append({
            "id": pair.id, "prompt_id": pair.prompt.id, "audio": str(path), "duration_s": round(dur, 3),
            "target_text": pair.target.text, "hypothesis": u.hypothesis, "wer_pct": 100 * u.wer,
            "substitutions": u.substitutions, "deletions": u.deletions, "insertions": u.insertions,
            "reference_words": u.reference_words,
            "sim_o": float(emb @ refs[pair.prompt.wav]), "sim_target": float(emb @ refs[pair.target.wav]),
        })
    n = len(rows)
    summary = {
        "utterances": n, "wer_mean_utterance_pct": 100 * wer.mean_utterance_wer, "wer_corpus_pct": 100 * wer.corpus_wer,
        "sim_o": sum(r["sim_o"] for r in rows) / n, "sim_target": sum(r["sim_target"] for r in rows) / n,
        "generated_audio_s": round(sum(durations), 3),
    }
    return {"summary": summary, "utterances": rows}


def published_comparison(config: dict[str, Any]) -> dict[str, Any]:
    """The published table, plus whether our numbers are on the same protocol (list, ASR, speaker model)."""
    table = load_published("zero_shot_tts")
    same_list = bool(config["pairs"].get("is_f5_list")) and not config["pairs"].get("limit")
    # Published systems estimate each length from the prompt; told the real one, a run is a topline.
    same_list = same_list and config["system"].get("durations") != "truth"
    match = models_match(config["asr"], config["speaker"], table)
    same_asr, same_spk = match["asr"], match["speaker"]
    return {"protocol": table["protocol"], "rows": table["rows"],
            "comparable": {"wer": same_list and same_asr, "sim_o": same_list and same_spk},
            "why_not": [m for m, ok in [("a different or partial pair list, or the targets' real lengths", same_list),
                                        ("a different ASR than Whisper-large-v3", same_asr),
                                        ("a different speaker model than WavLM-ECAPA", same_spk)] if not ok]}


def zero_shot_markdown(report: dict[str, Any]) -> str:
    s, cfg = report["scores"]["summary"], report["config"]
    spk = cfg["speaker"]["backend"]
    device = report["environment"]["device"]
    out = ["# Zero-shot TTS evaluation (LibriSpeech test-clean, cross-sentence)\n",
           f"System: **{cfg['system']['name']}** · {report['created']} · device `{device}`\n\n",
           md_table(["utterances", "WER mean/utt (%)", "WER corpus (%)", f"SIM-o ({spk}, vs prompt recording)",
                     f"SIM ({spk}, vs target recording)", "audio (s)"],
                    [[s["utterances"], fmt(s["wer_mean_utterance_pct"]), fmt(s["wer_corpus_pct"]), fmt(s["sim_o"], 3),
                      fmt(s["sim_target"], 3), fmt(s["generated_audio_s"], 1)]]),
           "\nWER: mean of per-utterance WERs (F5-TTS's figure) and corpus WER (errors / reference words), after "
           "lower-casing and deleting punctuation. SIM-o compares the generated speech with the prompt's original "
           "recording; SIM (target) with the target's own recording.\n"]
    comp = report.get("published")
    if comp:
        out.append("\n## Published numbers\n\n" + comp["protocol"] + "\n\n")
        rows = [[r["system"], fmt(r["wer_pct"]), fmt(r["sim_o"], 3), r["source"]] for r in comp["rows"]]
        rows.append([f"**this run** ({cfg['system']['name']})", fmt(s["wer_mean_utterance_pct"]), fmt(s["sim_o"], 3),
                     f"ASR {cfg['asr'].get('model')}, speaker model {spk}"])
        out.append(md_table(["system", "WER (%)", "SIM-o", "source"], rows))
        if comp["why_not"]:
            out.append("\n**Not comparable**: this run uses " + "; ".join(comp["why_not"]) +
                       ". Only the published rows are comparable with each other.\n")
    worst = sorted(report["scores"]["utterances"], key=lambda r: -r["wer_pct"])[:WORST_SHOWN]
    out.append(f"\n## Highest-WER utterances (of {s['utterances']}; all rows in report.json)\n\n")
    out.append(md_table(["id", "WER (%)", "SIM-o", "reference", "hypothesis"],
                        [[r["id"], fmt(r["wer_pct"], 1), fmt(r["sim_o"], 3), r["target_text"], r["hypothesis"]]
                         for r in worst]))
    out.append("\n## Configuration\n\n" + md_config(cfg))
    return "".join(out)


def run_zero_shot_eval(
    pairs: Sequence[EvalPair], audio: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
    asr: ASR, scorer: SpeakerScorer, config: dict[str, Any], device: torch.device,
    generation: dict[str, Any] | None = None, batch_size: int = 8,
) -> dict[str, Any]:
    """Score, compare with published numbers, write `report.json` + `report.md` into `out_dir`; return the report.

    `config` must hold `pairs` (with `is_f5_list`, `limit`), `system` (with `name`), `asr` and `speaker`
    (the backends' `describe()`); everything in it is copied into the report.
    """
    report = new_report("zero_shot_tts", config, device)
    report["generation"] = generation
    report["scores"] = score_zero_shot(pairs, audio, asr, scorer, batch_size)
    report["published"] = published_comparison(config)
    write_reports(out_dir, report, zero_shot_markdown(report))
    return report


def seed_folder(out_dir: str | os.PathLike, seed: int) -> Path:
    """Where the run with synthesis seed `seed` of a `--seeds` evaluation writes its audio and report."""
    return Path(out_dir) / f"seed-{seed}"


def seeds_markdown(report: dict[str, Any]) -> str:
    s, cfg = report["scores"]["summary"], report["config"]
    spk = cfg["speaker"]["backend"]
    rows = [[r["seed"], fmt(r["summary"]["wer_mean_utterance_pct"]), fmt(r["summary"]["wer_corpus_pct"]),
             fmt(r["summary"]["sim_o"], 3), f"[report]({r['report']})"] for r in report["seeds"]]
    rows.append(["**mean**", fmt(s["wer_mean_utterance_pct"]), fmt(s["wer_corpus_pct"]), fmt(s["sim_o"], 3), ""])
    return "".join([
        "# Zero-shot TTS evaluation over synthesis seeds (LibriSpeech test-clean, cross-sentence)\n\n",
        f"System: **{cfg['system']['name']}** · {report['created']} · device `{report['environment']['device']}`\n\n",
        "F5-TTS reports the mean over seeds 0, 1 and 2; each seed's full report is in its folder.\n\n",
        md_table(["seed", "WER mean/utt (%)", "WER corpus (%)", f"SIM-o ({spk})", "details"], rows),
        "\n## Configuration\n\n" + md_config(cfg)])


def combine_seed_reports(reports: Sequence[dict[str, Any]], seeds: Sequence[int], out_dir: str | os.PathLike,
                         config: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Write `out_dir/report.json` + `report.md` for runs that differ only in their synthesis seed:
    each seed's summary and the mean of every score (F5-TTS's reported figure); return that report."""
    if len(reports) != len(seeds) or not reports:
        raise ValueError(f"{len(reports)} reports for seeds {list(seeds)}")
    report = new_report("zero_shot_tts_seeds", {**config, "seeds": list(seeds)}, device)
    report["seeds"] = [{"seed": seed, "summary": r["scores"]["summary"],
                        "report": str(seed_folder(".", seed) / "report.md")} for seed, r in zip(seeds, reports)]
    report["scores"] = {"summary": mean_summary([r["scores"]["summary"] for r in reports])}
    report["published"] = reports[0]["published"]
    write_reports(out_dir, report, seeds_markdown(report))
    return report
