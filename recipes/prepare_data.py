"""Build manifests from corpus folders: `train.tsv` and, with --heldout-speakers, `heldout.tsv`.

    python -m recipes.prepare_data /data/LibriTTS/train-clean-100 /data/LibriTTS/train-clean-360 \
        --out data/libritts --min-duration 0.5 --max-duration 30 --heldout-speakers 20
"""
from __future__ import annotations

import argparse
from pathlib import Path


from recipes.manifest import filter_duration, scan, split_by_speaker, write_manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roots", nargs="+", help="corpus folders (LibriTTS, LibriSpeech, LJSpeech, wav/flac + .txt)")
    p.add_argument("--out", required=True, help="output folder for train.tsv (and heldout.tsv)")
    p.add_argument("--min-duration", type=float, default=0.5, help="seconds (default: %(default)s)")
    p.add_argument("--max-duration", type=float, default=30.0, help="seconds (default: %(default)s)")
    p.add_argument("--heldout-speakers", type=int, default=0,
                   help="speakers whose utterances all go to heldout.tsv (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="chooses the held-out speakers (default: %(default)s)")
    p.add_argument("--workers", type=int, default=8, help="files read in parallel (default: %(default)s)")
    args = p.parse_args(argv)

    for root in args.roots:
        if not Path(root).is_dir():
            p.error(f"not a folder: {root}")
    utts, untranscribed = scan(args.roots, args.workers)
    kept = filter_duration(utts, args.min_duration, args.max_duration)
    train, heldout = split_by_speaker(kept, args.heldout_speakers, args.seed)
    out = Path(args.out)
    write_manifest(out / "train.tsv", train)
    if args.heldout_speakers:
        write_manifest(out / "heldout.tsv", heldout)
    hours = lambda us: sum(u.duration for u in us) / 3600  # noqa: E731
    print(f"{len(utts)} transcribed utterances ({len(untranscribed)} audio files without a transcript skipped); "
          f"{len(utts) - len(kept)} outside {args.min_duration}-{args.max_duration} s dropped")
    print(f"train: {len(train)} utterances, {hours(train):.2f} h, {len({u.speaker for u in train})} speakers "
          f"→ {out / 'train.tsv'}")
    if args.heldout_speakers:
        print(f"heldout: {len(heldout)} utterances, {hours(heldout):.2f} h, {len({u.speaker for u in heldout})} "
              f"speakers → {out / 'heldout.tsv'}")


if __name__ == "__main__":
    main()
