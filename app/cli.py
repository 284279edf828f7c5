"""`python -m app [--tts DIR_OR_HUB_ID] [--host 127.0.0.1] [--port 7860] ...`: load the models once, serve the page
and the APIs. `python -m app voices add NAME clip.wav --text "..." | list | remove NAME`: the saved voices.
`python -m app dialogue "[alice] Hello. [bob] Hi!" --out talk.wav`: a dialogue in saved voices, to a file."""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from codec.audio import check_output_path, save_audio
from codec.device import pick_device
from codec.interface import codec_subfolder
from codec.model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER
from tts import Synthesizer, SynthesisOptions
from tts.asr import DEFAULT_ASR_MODEL, WhisperTranscriber
from tts.options import add_option_arguments, options_from_args

from . import dialogue
from .models import DEFAULT_TTS, ModelStatus, load_synthesizer
from .page import serve
from .service import Service
from .speech import InputError
from .voices import VoiceStore



def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The models and where they run: the same flags and environment variables for the app and `voices`."""
    env = os.environ
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="cubetts voice-cloning web app and API "
                                     "(`python -m app voices --help`: the saved voices)")
    add_model_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on; 0.0.0.0 serves the network (default: %(default)s)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    parser.add_argument("--concurrency", type=_positive_int, default=8,
                        help="requests synthesised at once, together in one batch; the others wait in the queue "
                             "(default: %(default)s)")
    parser.add_argument("--share", action="store_true", help="also serve on a public gradio.live link")
    add_option_arguments(parser.add_argument_group("synthesis defaults (the page's starting values and the API's)"))
    return parser


def build_voices_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app voices", description="the saved voices, under "
                                     "$CUBETTS_HOME/voices (default: the user's data folder)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="save a clip as a voice (prepared for the model and codec given)")
    add.add_argument("name", help="the voice's name: lower-case letters, digits, - and _")
    add.add_argument("clip", help="the reference clip (.wav .flac .ogg .mp3 .aiff; up to 60 s, 3 to 12 s is best: longer ones are cut)")
    add.add_argument("--text", help="what the clip says (default: transcribed by --asr)")
    add.add_argument("--force", action="store_true", help="replace a voice of that name")
    add_model_arguments(add)
    commands.add_parser("list", help="the voices, with their transcripts")
    remove = commands.add_parser("remove", help="delete a saved voice")
    remove.add_argument("name")
    return parser


def build_dialogue_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app dialogue", description="speak a script with speaker "
                                     "tags, each turn in its saved voice: [alice] Hello there. [bob] Hi!")
    parser.add_argument("script", nargs="?", help="the script (or --file)")
    parser.add_argument("--file", help="read the script from this text file")
    parser.add_argument("--out", required=True, help="the output file: .wav, .flac or .ogg")
    add_model_arguments(parser)
    add_option_arguments(parser.add_argument_group("synthesis options"))
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["voices"]:
        return voices_main(argv[1:])
    if argv[:1] == ["dialogue"]:
        return dialogue_main(argv[1:])
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
    service = Service.create(synthesizer, status, VoiceStore(), args.concurrency, options)
    serve(service, args.host, args.port, args.share)
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


def voices_main(argv: list[str]) -> int:
    args = build_voices_parser().parse_args(argv)
    store = VoiceStore()
    try:
        if args.command == "list":
            for name in store.names():
                voice = store.get(name)
                print(f"{name}\t{voice.transcript}")
        elif args.command == "remove":
            store.remove(args.name)
            print(f"removed the voice {args.name.strip().lower()!r}")
        else:
            store.check_new(args.name, args.clip, args.text, args.force)  # before the models load
            voice = store.add(args.name, args.clip, args.text, _load(args), force=args.force)
            print(f"saved the voice {voice.name!r} ({voice.transcript!r}) in {store.root}")
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def dialogue_main(argv: list[str]) -> int:
    parser = build_dialogue_parser()
    args = parser.parse_args(argv)
    if (args.script is None) == (args.file is None):
        parser.error("give the script, or --file, not both")
    try:
        out = check_output_path(args.out)
        script = Path(args.file).read_text(encoding="utf-8") if args.file else args.script
        options = options_from_args(args)
        store = VoiceStore()
        turns = dialogue.parse(script, store)  # unknown speakers are named before the models load
        synthesizer = _load(args, options)
        service = Service.create(synthesizer, ModelStatus(args.tts, str(args.codec), args.asr, "cli"), store)
        jobs = dialogue.prepare(service, turns, options)
        save_audio(out, dialogue.run(service, jobs), service.sample_rate)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}: {len(jobs)} turns, seed {jobs[0].seed}", file=sys.stderr)
    return 0


def _load(args: argparse.Namespace, options: SynthesisOptions | None = None) -> Synthesizer:
    device = pick_device(args.device)
    subfolder = codec_subfolder(args.codec, args.codec_subfolder) if args.codec else None
    synthesizer, status = load_synthesizer(args.tts, args.codec, args.asr, device, options or SynthesisOptions(),
                                           codec_kwargs={"subfolder": subfolder} if subfolder else {})
    if synthesizer is None:
        raise InputError(f"the models are not loaded: {status.problem}", "tts")
    return synthesizer
