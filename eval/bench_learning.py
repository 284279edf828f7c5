"""Does the TTS recipe learn to speak? Train on the offline corpus and score intelligibility as it trains.

    python -m eval.bench_learning --tier overfit --out runs/bench/overfit                    # CPU, ~26 min
    python -m eval.bench_learning --tier generalise --out runs/bench/generalise --device cuda  # one GPU (not yet run)

The real recipe end to end: `recipes/build_corpus.py` (espeak-ng voices) → `recipes/extract_latents.py` with
the mel codec (F5-TTS's 100-bin log-mel; decoded with Griffin-Lim, 64 iterations, since no vocoder weights are
reachable offline) → `recipes/train_tts.py`'s `train`, in slices of `eval_every` steps (each slice resumes the
run exactly) → after each slice, the checkpoint synthesises through `tts.Synthesizer` and is scored:
- WER: offline faster-whisper Whisper base (5 beams), mean of per-utterance WERs after `eval.text_norm`;
- SIM: resemblyzer cosine of each output with its prompt; the different-voice baseline is the same cosine
  between the prompt and a recording of another voice (an output below it does not sound like its prompt);
- text gap: `recipes.train_tts.text_gap` on the evaluated utterances (fixed span, time and noise).
The ceiling, on the same sentences: WER of the recordings, and of their ground-truth mels through the same
decoder (what a perfect model would score here).

Tiers (see `TIERS`): `overfit` trains on 16 utterances of two voices and synthesises those sentences, each with
a different recording of its voice as the prompt: it proves the whole path can produce intelligible speech.
`generalise` trains on the full corpus and scores held-out sentences of training voices and held-out voices.
`ci` is a few steps of a tiny model, for the test. Writes the run, report.json, report.md, learning.png and a
few WAVs (first and last evaluation) to `--out/<layout>/`; the corpus, the latents and the ceiling are kept in
`--out` and reused by runs of the other layout.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from codec.audio import load_audio, save_audio, to_mono
from codec.mel import GRIFFIN_LIM, MelCodec
from eval.asr import ASR, FasterWhisperASR
from eval.plot import line_panels
from eval.report import fmt, md_table, new_report, write_reports
from eval.speaker import ResemblyzerScorer, SpeakerScorer, speaker_similarity
from eval.wer import summarize_wer
from recipes.build_corpus import CorpusConfig, build
from recipes.checkpoint import list_checkpoints
from recipes.ema import EMASchedule
from recipes.extract_latents import extract
from recipes.manifest import Utterance, read_manifest, write_manifest
from recipes.shards import LatentDataset
from recipes.train_tts import Collate, TTSTrainConfig, text_gap, train
from tts.dit import DiTConfig
from tts.model import TTSConfig, TTSModel
from tts.synthesizer import Synthesizer
from tts.text import build_tokenizer

MEL_DIM = 100
MEL_RATE = 24000 / 256  # F5-TTS mel frames per second: the batches below were sized in frames


def mel_tts(layout: str, **dit) -> TTSConfig:
    """A phone-input DiT on the 100-bin mel with the given text layout and sizes."""
    vocab = len(build_tokenizer("phone").vocab)
    return TTSConfig(dit=DiTConfig(latent_dim=MEL_DIM, text_vocab_size=vocab, text_layout=layout, **dit))


@dataclass(frozen=True)
class Tier:
    corpus: CorpusConfig
    train: TTSTrainConfig
    eval_every: int
    eval_sets: tuple[str, ...]  # "train" (the training sentences), "heldout_sentences", "heldout_voices"
    eval_items: int = 16  # utterances scored per set
    weights: str = "model"  # the checkpoint's "model" or "ema" weights are evaluated
    nfe: int = 32
    targets: dict[str, float] = field(default_factory=dict)  # set → WER margin over the ceiling
    texts: tuple[str, ...] | None = None  # sentences instead of the Debian and Python sources (CI: they are slow)


# For the CI-sized tier: reading and cleaning the real sources takes a minute or more.
CI_TEXTS = ("The cat sat on the mat.", "We walked home in the rain.", "She likes green apples a lot.",
            "The old dog sleeps all day.", "They sing songs by the sea.", "He reads a book every night.")


def tiers(layout: str) -> dict[str, Tier]:
    # Sized for a 2-core CPU: ~1.2M parameters, one batch = the 16 utterances, ~2-4 s a step there.
    overfit_model = mel_tts(layout, dim=128, depth=4, heads=2, text_dim=64, conv_layers=2, dropout=0.0)
    return {
        "overfit": Tier(
            CorpusConfig.overfit(),
            TTSTrainConfig(model=overfit_model, lr=2e-3, warmup_steps=50, max_steps=800, batch_seconds=8000 / MEL_RATE,
                           max_samples=64, ema=EMASchedule(0.99, update_every=1, update_after=10), workers=0, log_every=50, checkpoint_every=200, keep_checkpoints=1,
                           sample_every=0, text_gap_every=0),
            eval_every=200, eval_sets=("train",), targets={"train": 0.10}),
        "generalise": Tier(
            CorpusConfig(),
            TTSTrainConfig(model=mel_tts(layout, dim=512, depth=12, heads=8, text_dim=256, conv_layers=4),
                           lr=5e-4, warmup_steps=500, max_steps=3000, batch_seconds=409.6, max_samples=64,
                           ema=EMASchedule(0.999, update_every=1, update_after=100), workers=4,
                           log_every=100, checkpoint_every=1000, keep_checkpoints=1, sample_every=0,
                           text_gap_every=0),
            eval_every=1000, eval_sets=("heldout_sentences", "heldout_voices"), eval_items=50, weights="ema",
            targets={"heldout_sentences": 0.15, "heldout_voices": 0.25}),
        "ci": Tier(
            dataclasses.replace(CorpusConfig.overfit(), max_train_utterances=4, max_words=6),
            TTSTrainConfig(model=mel_tts(layout, dim=32, depth=1, heads=2, text_dim=16, conv_layers=1, dropout=0.0),
                           lr=1e-3, warmup_steps=1, max_steps=4, batch_seconds=4000 / MEL_RATE,
                           max_samples=64, ema=EMASchedule(0.9, update_every=1, update_after=0), workers=0,
                           log_every=2, checkpoint_every=2, keep_checkpoints=1, sample_every=0, text_gap_every=0),
            eval_every=2, eval_sets=("train",), eval_items=4, nfe=2, targets={"train": 0.10}, texts=CI_TEXTS),
    }


def pairs(split: list[Utterance], train: list[Utterance], n: int) -> list[tuple[Utterance, Utterance]]:
    """(target, prompt) pairs: the first `n` targets, each with another recording of its voice as the prompt
    (the voice's next utterance in the split; for a voice with one utterance there, one from `train`)."""
    by_voice: dict[str, list[Utterance]] = {}
    for u in split:
        by_voice.setdefault(u.speaker, []).append(u)
    out = []
    for target in split[:n]:
        same = by_voice[target.speaker]
        others = [u for u in same if u.id != target.id] or [u for u in train if u.speaker == target.speaker]
        if not others:
            raise ValueError(f"no other recording of voice {target.speaker} to prompt {target.id} with")
        out.append((target, others[(same.index(target)) % len(others)]))
    return out


class Scorer:
    """WER and SIM of waveforms for one evaluation set; the prompts' and ground truth's embeddings once."""

    def __init__(self, asr: ASR, speaker: SpeakerScorer, pairs_: list[tuple[Utterance, Utterance]], sr: int):
        self.asr, self.speaker, self.sr = asr, speaker, sr
        self.refs = [t.text for t, _ in pairs_]
        self.prompts = [_load(p.path, sr) for _, p in pairs_]
        self.truth = [_load(t.path, sr) for t, _ in pairs_]
        # another voice's recording for each prompt: the different-voice baseline
        voices = [t.speaker for t, _ in pairs_]
        other = [next((w for w, v in zip(self.truth, voices) if v != voice), None) for voice in voices]
        usable = [(p, o) for p, o in zip(self.prompts, other) if o is not None]
        self.baseline = _mean(speaker_similarity(speaker, [p for p, _ in usable], [o for _, o in usable], sr)) \
            if usable else None

    def wer(self, wavs: list[torch.Tensor]) -> tuple[float, list[str]]:
        hyps = self.asr.transcribe(wavs, self.sr)
        return summarize_wer(self.refs, hyps).mean_utterance_wer, hyps

    def sim(self, wavs: list[torch.Tensor]) -> float:
        return _mean(speaker_similarity(self.speaker, wavs, self.prompts, self.sr))


def _load(path: str, sr: int) -> torch.Tensor:
    return to_mono(load_audio(path, sr)[0])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def synthesize(synth: Synthesizer, pairs_: list[tuple[Utterance, Utterance]], nfe: int) -> list[torch.Tensor]:
    """Each target's sentence in its prompt's voice, batched by prompt; seed 0."""
    out: dict[str, torch.Tensor] = {}
    by_prompt: dict[str, list[Utterance]] = {}
    prompts = {p.id: p for _, p in pairs_}
    for target, prompt in pairs_:
        by_prompt.setdefault(prompt.id, []).append(target)
    for pid, targets in by_prompt.items():
        prompt = prompts[pid]
        wavs, _ = synth.synthesize_batch([t.text for t in targets], prompt.path, ref_text=prompt.text, seed=0,
                                         nfe=nfe)
        out.update({t.id: w for t, w in zip(targets, wavs)})
    return [out[t.id] for t, _ in pairs_]


def _no_asr(wav: torch.Tensor, sr: int) -> str:
    raise RuntimeError("the benchmark always gives the prompt's transcript")


def prepare(tier: Tier, out: Path, workers: int, device: torch.device) -> dict[str, list[Utterance]]:
    """Build (or reuse) the corpus and the training latents in `out`; return the manifests by split."""
    corpus = out / "corpus"
    recorded = corpus / "corpus.json"
    wanted = json.loads(json.dumps(dataclasses.asdict(tier.corpus)))  # tuples as lists, as corpus.json has them
    if not recorded.is_file() or json.loads(recorded.read_text())["config"] != wanted:
        build(corpus, tier.corpus, workers, tier.texts)
    splits = {name: read_manifest(corpus / f"{name}.tsv")
              for name in ("train", "heldout_sentences", "heldout_voices")}
    if not (out / "latents" / "stats.safetensors").is_file():
        extract(corpus / "train.tsv", GRIFFIN_LIM, out / "latents", shard_size=1000, workers=0,
                cpu=device.type == "cpu")
    return splits


def ceilings(path: Path, codec: MelCodec, scorers: dict[str, "Scorer"], asr: ASR) -> dict:
    """WER of each set's recordings and of their ground-truth mels decoded; SIM of the recordings with the
    prompts (same voice) and the different-voice baseline. Kept in `path` for runs that share the corpus."""
    key = {"sets": {n: s.refs for n, s in scorers.items()}, "asr": asr.describe()}
    if path.is_file() and (saved := json.loads(path.read_text()))["key"] == key:
        return saved["ceiling"]
    out, sr = {}, codec.sample_rate
    for name, scorer in scorers.items():
        decoded = []
        for wav in scorer.truth:
            latent, mask = codec.encode(wav, sr)
            decoded.append(codec.decode(latent, mask)[0].cpu())
        out[name] = {"raw": scorer.wer(scorer.truth)[0], "decoded": scorer.wer(decoded)[0],
                     "sim_same_voice": scorer.sim(scorer.truth), "sim_other_voice": scorer.baseline}
    path.write_text(json.dumps({"key": key, "ceiling": out}, indent=2))
    return out


def run(tier_name: str, out: str | Path, layout: str = "spread", device: str = "cpu", workers: int = 2,
        steps: int | None = None, asr: ASR | None = None, speaker: SpeakerScorer | None = None,
        keep_wavs: int = 4) -> dict:
    """Run a tier into `out`; returns the report (also written there). `steps` overrides the tier's max_steps
    (the schedule follows it); `asr` / `speaker` replace offline Whisper base / resemblyzer."""
    tier = tiers(layout)[tier_name]
    if steps is not None:
        tier = dataclasses.replace(tier, train=dataclasses.replace(tier.train, max_steps=steps))
    out, dev = Path(out), torch.device(device)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    splits = prepare(tier, out, workers, dev)
    codec = MelCodec.griffin_lim().to(dev)
    sr = codec.sample_rate
    # No temperature fallback: on babble it re-decodes up to five times, for nothing a table would show.
    asr = asr or FasterWhisperASR("base", device=device, fallback=False)
    speaker = speaker or ResemblyzerScorer(device=device)
    sets = {name: pairs(splits[name], splits["train"], tier.eval_items) for name in tier.eval_sets}
    scorers = {name: Scorer(asr, speaker, p, sr) for name, p in sets.items()}
    ceiling = ceilings(out / "ceiling.json", codec, scorers, asr)
    tokenizer = build_tokenizer("phone")
    gap_batches = {}
    for name, p in sets.items():
        shards = out / f"latents-{name}"
        if name != "train" and not (shards / "stats.safetensors").is_file():
            write_manifest(out / f"{name}-eval.tsv", [t for t, _ in p])
            extract(out / f"{name}-eval.tsv", GRIFFIN_LIM, shards, workers=0, cpu=dev.type == "cpu")
        dataset = LatentDataset(out / "latents" if name == "train" else shards)
        wanted = {t.id for t, _ in p}
        items = [dataset[i] for i in range(len(dataset)) if dataset[i]["id"] in wanted]
        gap_batches[name] = {k: v.to(dev) for k, v in Collate(tokenizer)(items).items()}
    prep_seconds = time.perf_counter() - start

    # What depends on the layout goes in its own folder; corpus, latents and ceiling are shared.
    results = out / layout
    run_dir, rows, train_seconds = results / "run", [], 0.0
    for step in range(tier.eval_every, tier.train.max_steps + 1, tier.eval_every):
        tick = time.perf_counter()
        losses = train(tier.train, out / "latents", run_dir, until_step=step, cpu=dev.type == "cpu")
        train_seconds += time.perf_counter() - tick
        folder = list_checkpoints(run_dir / "checkpoints")[-1]
        if folder.name != f"step-{step:08d}":  # stopped early (SIGTERM, Ctrl-C): report what was done
            print(f"training stopped at {folder.name}, before step {step}: no further evaluation", flush=True)
            break
        model = TTSModel.from_pretrained(folder / tier.weights, device=dev)
        synth = Synthesizer(model, codec, transcriber=_no_asr)
        row: dict = {"step": step, "train_seconds": round(train_seconds, 1),
                     "train_loss": _mean(losses) if losses else None}
        for name, p in sets.items():
            gap = text_gap(model, gap_batches[name])
            wavs = synthesize(synth, p, tier.nfe)
            wer, hyps = scorers[name].wer(wavs)
            row[name] = {"text_gap": gap["text_gap"], "loss_text": gap["loss_text"], "wer": wer,
                         "sim": scorers[name].sim(wavs), "hypotheses": hyps}
            if step in (tier.eval_every, tier.train.max_steps):
                for i, w in enumerate(wavs[:keep_wavs]):
                    save_audio(results / "wavs" / f"step-{step:06d}" / f"{name}-{i}.wav", w, sr)
        rows.append(row)
        print(_row_line(row, tier.eval_sets), flush=True)

    if not rows:
        raise RuntimeError(f"training stopped before the first evaluation at step {tier.eval_every}")
    report = new_report("learning", {"tier": tier_name, "layout": layout, "tier_config": dataclasses.asdict(tier),
                                     "asr": asr.describe(), "speaker": speaker.describe(),
                                     "decoder": "griffin-lim, 64 iterations"}, dev)
    report.update({"ceiling": ceiling, "rows": rows, "prepare_seconds": round(prep_seconds, 1),
                   "total_seconds": round(time.perf_counter() - start, 1),
                   "targets": judge(tier, rows, ceiling)})
    write_reports(results, report, markdown(report, tier))
    x = [r["step"] for r in rows]
    line_panels(results / "learning.png", x, [
        ("WER (lower is better)", {f"{n}": [r[n]["wer"] for r in rows] for n in tier.eval_sets}
         | {f"ceiling {n}": [ceiling[n]["decoded"]] * len(rows) for n in tier.eval_sets}),
        ("text gap (> 0: the text is used)", {n: [r[n]["text_gap"] for r in rows] for n in tier.eval_sets}),
        ("train loss", {"train loss": [r["train_loss"] for r in rows]})])
    print(markdown(report, tier))
    return report


def judge(tier: Tier, rows: list[dict], ceiling: dict) -> dict:
    """The issue's targets on the last evaluation: text gap positive; WER within the margin of the ceiling."""
    last, out = rows[-1], {}
    for name, margin in tier.targets.items():
        first_positive = next((r["step"] for r in rows if r[name]["text_gap"] > 0), None)
        out[name] = {"text_gap_positive": last[name]["text_gap"] > 0, "first_step_text_gap_positive": first_positive,
                     "wer": last[name]["wer"], "ceiling": ceiling[name]["decoded"], "margin": margin,
                     "wer_within_margin": last[name]["wer"] <= ceiling[name]["decoded"] + margin}
        if name == "heldout_voices":
            out[name]["sim_above_other_voice"] = last[name]["sim"] > (ceiling[name]["sim_other_voice"] or 0.0)
    return out


def _row_line(row: dict, sets: tuple[str, ...]) -> str:
    parts = [f"step {row['step']:6d}", f"{row['train_seconds']:8.1f} s", f"loss {fmt(row['train_loss'], 4)}"]
    for n in sets:
        parts.append(f"{n}: gap {row[n]['text_gap']:+.4f} WER {row[n]['wer']:.3f} SIM {row[n]['sim']:.3f}")
    return " | ".join(parts)


def markdown(report: dict, tier: Tier) -> str:
    cfg, sets = report["config"], tier.eval_sets
    lines = [f"# Learning benchmark: tier {cfg['tier']}, text layout {cfg['layout']}\n",
             f"Machine: {report['environment'].get('device_name') or report['environment'].get('device')}; "
             f"ASR {cfg['asr']['model']}; decoder {cfg['decoder']}; prepare {report['prepare_seconds']} s, "
             f"total {report['total_seconds']} s.\n"]
    heads = ["step", "train s", "train loss"] + [f"{n} {k}" for n in sets for k in ("text gap", "WER", "SIM")]
    rows = [[r["step"], fmt(r["train_seconds"], 0), fmt(r["train_loss"], 4)]
            + [v for n in sets for v in (f"{r[n]['text_gap']:+.4f}", fmt(r[n]["wer"], 3), fmt(r[n]["sim"], 3))]
            for r in report["rows"]]
    lines.append(md_table(heads, rows))
    lines.append("\nCeiling (same sentences): " + "; ".join(
        f"{n}: WER raw {fmt(c['raw'], 3)}, ground-truth mel decoded {fmt(c['decoded'], 3)}, SIM same voice "
        f"{fmt(c['sim_same_voice'], 3)}, other voice {fmt(c['sim_other_voice'], 3)}"
        for n, c in report["ceiling"].items()) + "\n")
    lines.append("\nTargets: " + "; ".join(
        f"{n}: text gap positive {'yes' if t['text_gap_positive'] else 'NO'} (first at step "
        f"{t['first_step_text_gap_positive']}), WER {fmt(t['wer'], 3)} within {t['margin']} of the ceiling "
        f"{fmt(t['ceiling'], 3)}: {'yes' if t['wer_within_margin'] else 'NO'}"
        + (f", SIM above other voice: {'yes' if t['sim_above_other_voice'] else 'NO'}"
           if "sim_above_other_voice" in t else "")
        for n, t in report["targets"].items()) + "\n")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tier", choices=("overfit", "generalise", "ci"), default="overfit")
    p.add_argument("--out", required=True, help="folder for corpus, latents, run, report, plot and WAVs")
    p.add_argument("--layout", choices=("spread", "filler"), default="spread", help="the DiT's text layout")
    p.add_argument("--steps", type=int, default=None, help="train this many steps instead of the tier's")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--workers", type=int, default=2, help="espeak-ng processes while building the corpus")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args.tier, args.out, args.layout, args.device, args.workers, args.steps)


if __name__ == "__main__":
    main()
