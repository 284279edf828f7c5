"""Codec reconstruction over a manifest: encode → decode every clip, then PESQ, STOI, mel distance, WER, SIM."""
from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from codec.audio import load_audio, save_audio

from .asr import ASR
from .generate import check_generation_record
from .reconstruction import METRIC_SAMPLE_RATE, signal_metrics
from .report import fmt, load_published, md_config, md_table, models_match, new_report, write_reports
from .speaker import SpeakerScorer
from .wer import summarize_wer


@dataclass(frozen=True)
class ManifestItem:
    id: str
    wav: Path
    text: str | None


def read_manifest(path: str | os.PathLike) -> list[ManifestItem]:
    """A TSV with a header naming `id`, `file` (or `path`) and optionally `transcript` (or `text`).

    Relative paths are taken from the manifest's folder (so `shared/testdata/realspeech/manifest.tsv` reads
    as is). Without transcripts the report has no WER.
    """
    path = Path(path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise ValueError(f"{path}: no rows")
    columns = set(rows[0])
    file_col = next((c for c in ("file", "path") if c in columns), None)
    if "id" not in columns or file_col is None:
        raise ValueError(f"{path}: the header must name 'id' and 'file' (or 'path'); it has {sorted(columns)}")
    text_col = next((c for c in ("transcript", "text") if c in columns), None)
    return [ManifestItem(r["id"], (path.parent / r[file_col]).resolve(), r[text_col] if text_col else None)
            for r in rows]


def decoded_path(out_dir: str | os.PathLike, item: ManifestItem) -> Path:
    return Path(out_dir) / f"{item.id}.wav"


def reconstruct(codec: Any, items: Sequence[ManifestItem], out_dir: str | os.PathLike, record: dict[str, Any]) -> dict:
    """Encode and decode each clip (one at a time) into `<out_dir>/<id>.wav`; resumable like generation.

    `codec` is a `codec.WavCube` (or anything with its `encode(wav, sr) -> (latent, mask)`,
    `decode(latent, mask) -> (B, T)` and `sample_rate`). The decoded clip is cut to the valid frames.
    """
    check_generation_record(out_dir, record)
    pending = [it for it in items if not decoded_path(out_dir, it).is_file()]
    audio_s, start = 0.0, time.perf_counter()
    for item in tqdm(pending, desc="reconstruct", unit="utt", total=len(items), initial=len(items) - len(pending)):
        wav, sr = load_audio(item.wav)
        latent, mask = codec.encode(wav, sr)  # (1, N, D), (1, N)
        with torch.no_grad():
            out = codec.decode(latent, mask)  # (1, hop * N)
        hop = out.shape[-1] // mask.shape[-1]
        save_audio(decoded_path(out_dir, item), out[0, : int(mask[0].sum()) * hop].cpu(), codec.sample_rate)
        audio_s += wav.numel() / sr
    elapsed = time.perf_counter() - start
    return {"clips": len(items), "already_present": len(items) - len(pending), "reconstructed": len(pending),
            "input_audio_s": round(audio_s, 3), "wall_s": round(elapsed, 3)}


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def score_reconstruction(
    items: Sequence[ManifestItem], decoded: Sequence[str | os.PathLike], asr: ASR | None,
    scorer: SpeakerScorer | None, batch_size: int = 8,
) -> dict[str, Any]:
    """Metrics of `decoded[i]` against the original `items[i].wav`; `{"summary": ..., "utterances": [...]}`.

    Signal metrics on 16 kHz clips cut to the shorter length (see `reconstruction`). WER (mean per utterance
    and corpus, F5-TTS normalisation) of the decoded audio and, as the floor the ASR sets, of the originals;
    only when every item has a transcript and `asr` is given. SIM: decoded vs original with `scorer`.
    """
    if len(items) != len(decoded):
        raise ValueError(f"{len(items)} items but {len(decoded)} decoded files")
    rows: list[dict[str, Any]] = []
    originals, outputs = [], []
    for item, path in tqdm(list(zip(items, decoded)), desc="signal metrics", unit="utt"):
        ref = load_audio(item.wav, METRIC_SAMPLE_RATE)[0]
        deg = load_audio(path, METRIC_SAMPLE_RATE)[0]
        rows.append({"id": item.id, "audio": str(path), "duration_s": round(ref.numel() / METRIC_SAMPLE_RATE, 3),
                     **signal_metrics(ref, deg, METRIC_SAMPLE_RATE)})
        originals.append(ref)
        outputs.append(deg)
    summary: dict[str, Any] = {"utterances": len(rows)}
    for key in ("pesq_wb", "stoi", "mel_distance"):
        summary[key] = _mean([r[key] for r in rows])
    summary["pesq_unscored"] = sum(not math.isfinite(r["pesq_wb"]) for r in rows)
    if asr is not None and all(it.text for it in items):
        refs = [it.text or "" for it in items]
        for name, wavs in (("decoded", outputs), ("original", originals)):
            hyps: list[str] = []
            for start in range(0, len(wavs), batch_size):
                hyps += asr.transcribe(wavs[start:start + batch_size], METRIC_SAMPLE_RATE)
            wer = summarize_wer(refs, hyps)
            summary[f"wer_{name}_mean_utterance_pct"] = 100 * wer.mean_utterance_wer
            summary[f"wer_{name}_corpus_pct"] = 100 * wer.corpus_wer
            for row, u in zip(rows, wer.utterances):
                row[f"hypothesis_{name}"], row[f"wer_{name}_pct"] = u.hypothesis, 100 * u.wer
    if scorer is not None:
        for start in range(0, len(rows), batch_size):
            a = scorer.embed(outputs[start:start + batch_size], METRIC_SAMPLE_RATE)
            b = scorer.embed(originals[start:start + batch_size], METRIC_SAMPLE_RATE)
            for row, s in zip(rows[start:start + batch_size], (a * b).sum(dim=-1).tolist()):
                row["sim"] = s
        summary["sim"] = _mean([r["sim"] for r in rows])
    return {"summary": summary, "utterances": rows}


def codec_markdown(report: dict[str, Any]) -> str:
    s, cfg = report["scores"]["summary"], report["config"]
    spk = (cfg.get("speaker") or {}).get("backend", "–")
    out = ["# Codec reconstruction\n", f"Codec: **{cfg['codec']['name']}** · {report['created']} · "
           f"device `{report['environment']['device']}` · {s['utterances']} clips\n\n",
           md_table(["PESQ-WB", "STOI", "mel distance", "WER decoded mean/utt (%)", "WER decoded corpus (%)",
                     "WER original mean/utt (%)", f"SIM ({spk})"],
                    [[fmt(s["pesq_wb"]), fmt(s["stoi"], 3), fmt(s["mel_distance"], 3),
                      fmt(s.get("wer_decoded_mean_utterance_pct")), fmt(s.get("wer_decoded_corpus_pct")),
                      fmt(s.get("wer_original_mean_utterance_pct")), fmt(s.get("sim"), 3)]]),
           "\nAll metrics compare the decoded clip with the original at 16 kHz, both cut to the shorter length. "
           "WER original is the same ASR on the original audio: the floor the ASR itself sets. "
           f"PESQ could not score {s['pesq_unscored']} clip(s).\n"]
    table = load_published("codec_reconstruction")
    out.append("\n## Published numbers\n\n" + table["protocol"] + "\n\n")
    out.append(md_table(["system", "STOI", "SIM", "WER (%)", "UTMOS", "source"],
                        [[r["system"], fmt(r["stoi"]), fmt(r["sim"]), fmt(r["wer_pct"]), fmt(r["utmos"]), r["source"]]
                         for r in table["rows"]]))
    asr_model = str((cfg.get("asr") or {}).get("model", "no ASR"))
    match = models_match(cfg.get("asr"), cfg.get("speaker"), table)
    same = ["STOI"] + ["WER"] * match["asr"] + ["SIM"] * match["speaker"]
    out.append(f"\nThis run: WER with {asr_model}, SIM with {spk}. Computed as in the published table: "
               f"{', '.join(same)} (on this run's clips, which need not be the paper's).\n")
    out.append("\n## Configuration\n\n" + md_config(cfg))
    return "".join(out)


def run_codec_eval(
    items: Sequence[ManifestItem], decoded: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
    asr: ASR | None, scorer: SpeakerScorer | None, config: dict[str, Any], device: torch.device,
    reconstruction: dict[str, Any] | None = None, batch_size: int = 8,
) -> dict[str, Any]:
    """Score decoded clips and write `report.json` + `report.md` into `out_dir`; `config` needs `codec.name`."""
    report = new_report("codec_reconstruction", config, device)
    report["reconstruction"] = reconstruction
    report["scores"] = score_reconstruction(items, decoded, asr, scorer, batch_size)
    write_reports(out_dir, report, codec_markdown(report))
    return report
