"""`python -m codec encode IN OUT` / `python -m codec decode IN OUT`: files or directories of files."""
from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .audio import AUDIO_SUFFIXES, AudioError, check_output_path, load_audio, save_audio
from .checkpoint import CheckpointError, atomic_write, read_config_file
from .device import pick_device
from .interface import codec_subfolder
from .model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER, MODEL_TYPE, WavCube, WavCubeConfig


# What `encode` writes: a torch file {"latent": (N, D), "sample_rate", "frame_rate", "source"}.
LATENT_SUFFIX = ".pt"


class UsageError(ValueError):
    """Bad paths or file contents given on the command line."""


def pairs(src: Path, dst: Path, suffixes: tuple[str, ...], out_suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) paths: one file → `dst`, or every matching file under a directory → mirrored under `dst`.
    Refused (UsageError), before any work: an output that is one of the inputs, and two inputs that would be
    written to one output (`a.wav` and `a.flac` both → `a.pt`)."""
    if src.is_file():
        if dst.is_dir():
            raise UsageError(f"{dst} is a directory; give an output file for the single input {src}")
        jobs = [(src, dst)]
    elif not src.is_dir():
        raise UsageError(f"input not found: {src}")
    else:
        if dst.exists() and not dst.is_dir():
            raise UsageError(f"{dst} is a file; give an output directory for the input directory {src}")
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise UsageError(f"no {'/'.join(suffixes)} files under {src}")
        jobs = [(f, (dst / f.relative_to(src)).with_suffix(out_suffix)) for f in files]
    check_outputs(jobs)
    return jobs


def check_outputs(jobs: list[tuple[Path, Path]]) -> None:
    """UsageError, naming both files, when an output is one of the inputs (by path, link or hard link) or when
    two inputs would be written to one output."""
    def identity(path: Path) -> tuple[int, int] | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    inputs = {key: src for src, _ in jobs if (key := identity(src)) is not None}
    input_paths = {src.resolve(): src for src, _ in jobs}
    outputs: dict[Path, Path] = {}
    for src, dst in jobs:
        same = input_paths.get(dst.resolve()) or inputs.get(identity(dst) or (-1, -1))
        if same is not None:
            raise UsageError(f"the output {dst} is the input {same}: refusing to write over an input")
        first = outputs.setdefault(dst.resolve(), src)
        if first != src:
            raise UsageError(f"two inputs would be written to one output {dst}: {first} and {src}; "
                             f"rename one of them")


def read_latent(path: Path, latent_dim: int) -> torch.Tensor:
    """A `.pt` written by `encode` (or a bare tensor) → `(N, latent_dim)` float32."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UsageError(f"{path}: not a readable torch file ({type(err).__name__}: {err})") from None
    latent = obj.get("latent") if isinstance(obj, dict) else obj
    if not isinstance(latent, torch.Tensor):
        raise UsageError(f"{path}: expected a tensor or a dict with a 'latent' tensor")
    if latent.dim() == 3 and latent.shape[0] == 1:
        latent = latent[0]
    if latent.dim() != 2 or latent.shape[1] != latent_dim or latent.shape[0] == 0:
        raise UsageError(f"{path}: expected a latent of shape (N, {latent_dim}) with N >= 1, got {tuple(latent.shape)}")
    if not torch.is_floating_point(latent) or not torch.isfinite(latent).all():
        raise UsageError(f"{path}: the latent must hold finite floating-point values")
    return latent.float()


def load_codec(args: argparse.Namespace) -> WavCube:
    config = None
    if args.config:
        config = WavCubeConfig.from_dict(read_config_file(Path(args.config), MODEL_TYPE, "codec config"))
    subfolder = codec_subfolder(args.checkpoint, args.subfolder)
    codec = WavCube.from_pretrained(args.checkpoint, config=config, subfolder=subfolder)
    return codec.to(pick_device(args.device))


def run_encode(args: argparse.Namespace) -> None:
    jobs = pairs(Path(args.input), Path(args.output), AUDIO_SUFFIXES, LATENT_SUFFIX)
    for _, dst in jobs:
        if dst.suffix.lower() != LATENT_SUFFIX:
            raise UsageError(f"cannot write a latent as {dst.suffix or '(no suffix)'!r} ({dst.name}); "
                             f"name the output file with {LATENT_SUFFIX}")
    codec = load_codec(args)
    for src, dst in tqdm(jobs, desc="encode", unit="file", disable=len(jobs) == 1):
        wav, sr = load_audio(src)
        latent, _ = codec.encode(wav, sr)
        record = {"latent": latent[0].cpu(), "sample_rate": codec.sample_rate, "frame_rate": codec.frame_rate,
                  "source": src.name}
        encoded = io.BytesIO()  # written by atomic_write: a full disk is one error naming the file
        torch.save(record, encoded)
        atomic_write(dst, encoded.getvalue())


def run_decode(args: argparse.Namespace) -> None:
    jobs = pairs(Path(args.input), Path(args.output), (LATENT_SUFFIX,), ".wav")
    for _, dst in jobs:
        check_output_path(dst)
    codec = load_codec(args)
    for src, dst in tqdm(jobs, desc="decode", unit="file", disable=len(jobs) == 1):
        latent = read_latent(src, codec.latent_dim)
        with torch.no_grad():
            wav = codec.decode(latent)
        save_audio(dst, wav[0], codec.sample_rate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m codec", description="WavCube speech codec (16 kHz, 50 Hz latents)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_, in_help, out_help in [
        ("encode", "audio → latent .pt", "audio file or directory", ".pt file or directory"),
        ("decode", "latent .pt → 16 kHz wav", ".pt file or directory", ".wav file or directory"),
    ]:
        p = sub.add_parser(name, help=help_)
        p.add_argument("input", help=in_help)
        p.add_argument("output", help=out_help)
        p.add_argument("--checkpoint", default=os.environ.get("CUBETTS_CODEC", DEFAULT_WAVCUBE),
                       help="saved codec directory, released .ckpt, or hub repo id (env CUBETTS_CODEC; "
                            f"default {DEFAULT_WAVCUBE})")
        p.add_argument("--subfolder", help=f"subfolder of a hub repo ({DEFAULT_WAVCUBE_SUBFOLDER!r} for the default repo)")
        p.add_argument("--config", help="codec config.json for a released .ckpt of non-default size")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        (run_encode if args.command == "encode" else run_decode)(args)
    except (AudioError, CheckpointError, UsageError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
