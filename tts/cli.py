"""`python -m tts synth --text ... --ref ref.wav [--ref-text ...] --out out.wav`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tqdm import tqdm

from codec.audio import OUTPUT_FORMATS, AudioError, check_output_path, save_audio
from codec.checkpoint import CheckpointError
from codec.cli import check_outputs
from codec.device import pick_device
from codec.interface import codec_subfolder
from codec.model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER

from .asr import DEFAULT_ASR_MODEL, ASRUnavailable
from .options import add_option_arguments, options_from_args
from .text import TextError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tts", description="Zero-shot TTS on codec latents (WavCube or mel)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="speak a text in the voice of a reference clip")
    p.add_argument("--text", required=True, help="text to speak")
    p.add_argument("--ref", required=True, help="reference audio file (its voice is copied)")
    p.add_argument("--ref-text", help="transcript of the reference; transcribed by the ASR when omitted")
    p.add_argument("--out", required=True,
                   help=f"output file; its suffix sets the format ({', '.join(OUTPUT_FORMATS)})")
    p.add_argument("--model", default=os.environ.get("CUBETTS_TTS"), required="CUBETTS_TTS" not in os.environ,
                   help="TTS model directory or hub id (env CUBETTS_TTS)")
    p.add_argument("--codec", default=os.environ.get("CUBETTS_CODEC") or None,
                   help="codec directory, released .ckpt, Vocos folder, hub id, or griffin-lim (env CUBETTS_CODEC; "
                        "default: the codec the TTS checkpoint records)")
    p.add_argument("--codec-subfolder", help=f"subfolder of a codec hub repo ({DEFAULT_WAVCUBE_SUBFOLDER!r} "
                                             f"for {DEFAULT_WAVCUBE})")
    p.add_argument("--asr-model", default=DEFAULT_ASR_MODEL, help="Whisper directory or hub id (default %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default %(default)s)")
    add_option_arguments(p)
    return parser


def run_synth(args: argparse.Namespace) -> None:
    from .synthesizer import Synthesizer

    options = options_from_args(args)  # before loading models: bad options or output name fail fast
    check_output_path(args.out)
    check_outputs([(Path(args.ref), Path(args.out))])  # never write over the reference
    subfolder = codec_subfolder(args.codec, args.codec_subfolder) if args.codec else None
    tts = Synthesizer.from_pretrained(args.model, args.codec, pick_device(args.device), args.asr_model,
                                      options, subfolder=subfolder)
    with tqdm(unit="piece", desc="synthesize", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        wav, sr = tts.synthesize(args.text, args.ref, ref_text=args.ref_text, progress=progress)
    save_audio(args.out, wav, sr)
    print(f"wrote {args.out}: {wav.shape[0] / sr:.2f} s at {sr} Hz")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        run_synth(args)
    except (TextError, AudioError, ASRUnavailable, CheckpointError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
