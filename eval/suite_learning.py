"""The learning benchmark's generalise tier, cut to a time budget: the `learning` step of eval/gpu_suite.py.

    python -m eval.suite_learning --device cuda --out runs/gpu_suite/learning --seconds 160
    python -m eval.suite_learning --dry --out /tmp/learning --seconds 20      # CPU: the CI tier's sizes

The generalise tier (eval/bench_learning.py) trains its 12-layer DiT for 3,000 steps on a 10-hour corpus
and scores 50 utterances per held-out set. Here the model, optimiser and scorers stay; the corpus, the
steps and the evaluation are cut to what `--seconds` allows: `CUT_HOURS` of speech, a quarter of the
budget for it (corpus, latents), half for training at an assumed `STEP_SECONDS[device]` per step (one
evaluation at the end), a quarter for the evaluation. What it shows: that the whole path runs on
that GPU, the step time it gets (the report's `train_seconds`), and how far a few minutes of
training get. `--dry` runs the CI tier (4 utterances; 2 steps, 2 scored) with the offline scorers
(PocketSphinx, Resemblyzer) on the CPU. Exit status 3 with a reason when it cannot run here (no espeak-ng to build
the corpus, no offline Whisper): the suite reports the step skipped.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

from eval import bench_learning
from eval.asr import ASR
from eval.speaker import SpeakerScorer

SKIPPED = 3  # eval.gpu_suite.SKIPPED
CUT_HOURS = 0.25  # of training speech: espeak-ng builds it in about a minute on 16 cores
STEP_SECONDS = {"cuda": 0.25, "cpu": 3.0}  # assumed, not yet measured on a GPU: the first GPU report gives it


def cut_tier(seconds: float, device: str) -> bench_learning.Tier:
    """The generalise tier with its corpus, steps and evaluation cut to `seconds` on `device`."""
    tier = bench_learning.tiers("spread")["generalise"]
    steps = max(10, min(tier.train.max_steps, int(seconds / 2 / STEP_SECONDS[device])))
    corpus = dataclasses.replace(tier.corpus, hours=CUT_HOURS, heldout_voice_utterances=8, heldout_sentences=16)
    return dataclasses.replace(tier, corpus=corpus, eval_every=steps, eval_items=8,
                               train=dataclasses.replace(tier.train, max_steps=steps,
                                                         warmup_steps=min(tier.train.warmup_steps, steps // 5)))


def skip(reason: str) -> None:
    print(f"skipped: {reason}", flush=True)
    sys.exit(SKIPPED)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seconds", type=float, required=True, help="the time budget, all stages together")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dry", action="store_true", help="the CI tier, offline scorers, CPU")
    args = p.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        skip("espeak-ng is not installed: the corpus cannot be built (apt-get install espeak-ng)")
    device = "cpu" if args.dry else args.device
    asr: ASR
    speaker: SpeakerScorer | None
    if args.dry:
        from eval.asr import PocketSphinxASR
        from eval.speaker import ResemblyzerScorer

        name, asr, speaker = "ci", PocketSphinxASR(), ResemblyzerScorer()
        ci = bench_learning.tiers("spread")["ci"]
        tier = dataclasses.replace(ci, eval_every=2, eval_items=2, train=dataclasses.replace(ci.train, max_steps=2))
    else:
        from eval.asr import ASRError, FasterWhisperASR

        try:
            asr = FasterWhisperASR("base", device=device, fallback=False)
        except (ASRError, ImportError) as err:
            skip(f"no offline Whisper base: {err}")
        speaker = None
        name, tier = "generalise-cut", cut_tier(args.seconds, device.split(":")[0])
    # bench_learning.run looks its tier up by name: offer the cut one beside the others.
    tiers = bench_learning.tiers
    bench_learning.tiers = lambda layout: {**tiers(layout), name: tier}
    try:
        report = bench_learning.run(name, args.out, device=device, workers=2 if args.dry else 8, asr=asr,
                                    speaker=speaker, keep_wavs=1)
    finally:
        bench_learning.tiers = tiers
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "learning.json").write_text(json.dumps({"tier": name, "steps": tier.train.max_steps,
                                                         "rows": report["rows"], "ceiling": report["ceiling"],
                                                         "targets": report["targets"],
                                                         "prepare_seconds": report["prepare_seconds"],
                                                         "total_seconds": report["total_seconds"]}, indent=1,
                                                        default=str))


if __name__ == "__main__":
    main()
