"""`python -m app [--tts DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860] ...`: load the models once, serve the page."""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from codec.device import pick_device
from codec.interface import codec_subfolder
from codec.model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER
from tts.asr import DEFAULT_ASR_MODEL, WhisperTranscriber
from tts.options import add_option_arguments, options_from_args

from .models import DEFAULT_TTS, load_synthesizer
from .server import build_app

# A reference needs at most 15 s (longer ones are cut); 20 MB holds minutes of 16-bit WAV.
MAX_UPLOAD = "20mb"


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m app", description="cubetts voice-cloning web app and API")
    parser.add_argument("--tts", default=env.get("CUBETTS_TTS") or DEFAULT_TTS,
                        help="TTS model directory, hub id or F5-TTS release name (env CUBETTS_TTS; default: "
                             "%(default)s, F5-TTS v1 Base, CC-BY-NC weights); when it cannot be loaded the page "
                             "starts and says how to get it")
    parser.add_argument("--codec", default=env.get("CUBETTS_CODEC") or None,
                        help="codec directory, released .ckpt, Vocos folder, hub id, or griffin-lim (env "
                             "CUBETTS_CODEC; default: the codec the TTS checkpoint records)")
    parser.add_argument("--codec-subfolder", help=f"subfolder of a codec hub repo (default: "
                                                  f"{DEFAULT_WAVCUBE_SUBFOLDER!r} for {DEFAULT_WAVCUBE})")
    parser.add_argument("--asr", default=env.get("CUBETTS_ASR") or DEFAULT_ASR_MODEL,
                        help="Whisper directory or hub id, for references given without a transcript "
                             "(env CUBETTS_ASR; default: %(default)s)")
    parser.add_argument("--device", default="auto",
                        help="auto (the GPU when there is one), cpu, cuda, cuda:1, ... (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 serves the network (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    parser.add_argument("--concurrency", type=_positive_int, default=8,
                        help="requests synthesised at once, together in one batch; the others wait in the queue "
                             "(default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    add_option_arguments(parser.add_argument_group("synthesis defaults (the page's starting values and the API's)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        check_port(args.host, args.port)  # before the models load: a busy port is said at once
        options = options_from_args(args)
        device = pick_device(args.device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    subfolder = codec_subfolder(args.codec, args.codec_subfolder) if args.codec else None
    synthesizer, status = load_synthesizer(args.tts, args.codec, args.asr, device, options,
                                           {"subfolder": subfolder} if subfolder else {})
    if synthesizer is not None and isinstance(synthesizer.transcriber, WhisperTranscriber):
        synthesizer.transcriber.start_loading()  # in the background: requests never wait on a download
    demo = build_app(synthesizer, status, args.concurrency, options)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD)
    return 0


def check_port(host: str, port: int) -> None:
    """ValueError unless `host` can listen on `port` now (bound and let go at once, as the server will bind it)."""
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be a port number from 1 to 65535, got {port}")
    try:
        family, _, _, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closing port is free
            s.bind(address)
    except OSError as err:
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}; is another server using it? "
                         f"Stop it or choose another --port") from None
