"""Encode a manifest with the codec into latent shards (see `recipes.shards`), on all processes.

    accelerate launch -m recipes.extract_latents --manifest data/libritts/train.tsv \
        --codec yhaha/WavCube --subfolder WavCube --out data/latents/train

The manifest is cut into shards of `--shard-size` utterances in manifest order; process r of w
encodes shards r, r + w, …. A shard file appears only when complete, so a rerun skips finished
shards and redoes the rest; a shard counts as finished only when its checksum verifies, so a truncated
or corrupted one is named and redone. When all are done, the main process writes `stats.safetensors`.

Latents are computed in float32 (no bf16 autocast, no TF32 matmuls or convolutions): they are the TTS
model's targets for every epoch, and bf16 moves them by up to 5 % relative, for a one-time saving.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
from pathlib import Path


import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from codec import open_codec
from codec.audio import load_audio
from codec.checkpoint import atomic_write
from recipes.manifest import SKIP_BAD_LINES_HELP, Utterance, read_manifest
from recipes.shards import (STATS_NAME, ShardError, compute_stats, save_stats, shard_path, verify_shard,
                            write_shard)

PLAN_NAME = "extract.json"


class _Clips(Dataset):
    """`dataset[(shard, position)] → (key, wav: (T,) at the codec's rate)`."""

    def __init__(self, shards: list[list[Utterance]], sample_rate: int):
        self.shards = shards
        self.sample_rate = sample_rate

    def __getitem__(self, key: tuple[int, int]) -> tuple[tuple[int, int], torch.Tensor]:
        shard, pos = key
        return key, load_audio(self.shards[shard][pos].path, self.sample_rate)[0]


@contextlib.contextmanager
def _float32_matmuls():
    """No TF32 (10-bit mantissa) in CUDA matmuls and convolutions inside the block."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _as_list(items: list) -> list:
    return items


def _batches(shard: int, utts: list[Utterance], max_seconds: float) -> list[list[tuple[int, int]]]:
    """Keys of one shard's utterances, longest first, packed so that clips × longest ≤ max_seconds."""
    order = sorted(range(len(utts)), key=lambda i: -utts[i].duration)
    batches: list[list[tuple[int, int]]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * utts[batches[-1][0][1]].duration <= max_seconds:
            batches[-1].append((shard, i))
        else:
            batches.append([(shard, i)])
    return batches


def _record_plan(out: Path, plan: dict, accelerator: Accelerator) -> None:
    """Shards of another manifest or shard size must never mix with these: the plan is checked on rerun."""
    path = out / PLAN_NAME
    if accelerator.is_main_process and not path.is_file():
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(plan, indent=2)))
    accelerator.wait_for_everyone()
    saved = json.loads(path.read_text())
    if saved != plan:
        raise ValueError(f"{out} holds shards of another extraction ({saved}); use a new --out folder")


def _finished(path: Path) -> bool:
    """A shard counts as done only when it verifies; a broken one is reported, deleted, and redone."""
    if not path.is_file():
        return False
    try:
        verify_shard(path)
    except ShardError as err:
        print(f"{err}: redoing it", flush=True)
        path.unlink(missing_ok=True)
        (path.parent / STATS_NAME).unlink(missing_ok=True)  # computed from the broken shard
        return False
    return True


def extract(manifest: str | Path, codec_path: str, out: str | Path, shard_size: int = 1000,
            batch_seconds: float = 300.0, workers: int = 4, cpu: bool = False, skip_bad_lines: bool = False,
            **codec_kwargs) -> None:
    """Encode every utterance of `manifest` into shards in `out`; see the module docstring.

    `codec_path` is anything `codec.open_codec` takes; `codec_kwargs` its `subfolder` and `revision`.
    """
    utts = read_manifest(manifest, skip_bad_lines)  # first: bad lines are reported before any work
    accelerator = Accelerator(cpu=cpu)
    out = Path(out)
    if not utts:
        raise ValueError(f"{manifest} lists no utterances")
    shards = [utts[i:i + shard_size] for i in range(0, len(utts), shard_size)]
    digest = hashlib.sha256(Path(manifest).read_bytes()).hexdigest()
    _record_plan(out, {"manifest_sha256": digest, "utterances": len(utts), "shard_size": shard_size,
                       "shards": len(shards), "codec": str(codec_path)}, accelerator)

    mine = [k for k in range(accelerator.process_index, len(shards), accelerator.num_processes)
            if not _finished(shard_path(out, k))]
    if mine:
        codec = open_codec(codec_path, device=accelerator.device, **codec_kwargs).eval()
        codec.bf16 = False  # WavCube autocasts to bf16 on CUDA; the mel codec is float32 throughout
        batches = [b for k in mine for b in _batches(k, shards[k], batch_seconds)]
        loader = DataLoader(_Clips(shards, codec.sample_rate), batch_sampler=batches, num_workers=workers,
                            collate_fn=_as_list)
        done: dict[int, dict[int, torch.Tensor]] = {k: {} for k in mine}
        bar = tqdm(total=sum(len(shards[k]) for k in mine), unit="utt",
                   desc=f"encode (process {accelerator.process_index})", disable=not accelerator.is_local_main_process)
        for items in loader:
            with _float32_matmuls():
                latent, mask = codec.encode([wav for _, wav in items], codec.sample_rate)  # (B, N, D), (B, N)
            lengths = mask.sum(1).tolist()
            for j, ((shard, pos), _) in enumerate(items):
                done[shard][pos] = latent[j, : lengths[j]].cpu().clone()
                if len(done[shard]) == len(shards[shard]):
                    group = shards[shard]
                    write_shard(shard_path(out, shard), [u.id for u in group],
                                [done[shard][i] for i in range(len(group))], [u.text for u in group],
                                [u.speaker for u in group])
                    del done[shard]
            bar.update(len(items))
        bar.close()
    print(f"process {accelerator.process_index} of {accelerator.num_processes}: encoded shards {mine}", flush=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        missing = [k for k in range(len(shards)) if not shard_path(out, k).is_file()]
        if missing:
            raise RuntimeError(f"shards {missing[:5]} are missing after extraction")
        if not (out / STATS_NAME).is_file():
            # The record is taken from the codec itself (source made absolute, kind and frame rate its own).
            spec = open_codec(codec_path, **codec_kwargs).spec()
            save_stats(out, compute_stats([shard_path(out, k) for k in range(len(shards))]), spec)
        print(f"{len(utts)} utterances in {len(shards)} shards → {out}")
    accelerator.wait_for_everyone()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", required=True, help="a manifest from recipes/prepare_data.py")
    p.add_argument("--codec", required=True,
                   help="codec: a WavCube folder, .ckpt or hub id; a Vocos mel vocoder (folder or hub id, e.g. "
                        "charactr/vocos-mel-24khz) for F5-TTS's mel; or griffin-lim (mel, no vocoder weights)")
    p.add_argument("--subfolder", default=None, help="hub subfolder of the codec, e.g. WavCube")
    p.add_argument("--revision", default=None, help="hub revision of the codec")
    p.add_argument("--out", required=True, help="folder for the shards and stats")
    p.add_argument("--shard-size", type=int, default=1000, help="utterances per shard (default: %(default)s)")
    p.add_argument("--batch-seconds", type=float, default=300.0,
                   help="audio per encoder batch, padding included (default: %(default)s)")
    p.add_argument("--workers", type=int, default=4, help="audio-reading processes (default: %(default)s)")
    p.add_argument("--cpu", action="store_true", help="encode on the CPU even where CUDA is available")
    p.add_argument("--skip-bad-lines", action="store_true", help=SKIP_BAD_LINES_HELP)
    args = p.parse_args(argv)
    kwargs = {"subfolder": args.subfolder, "revision": args.revision}
    extract(args.manifest, args.codec, args.out, args.shard_size, args.batch_seconds, args.workers, args.cpu,
            args.skip_bad_lines, **kwargs)


if __name__ == "__main__":
    main()
