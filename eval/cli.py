"""`python -m eval tts|codec|speed ...`: each run writes `report.json` and `report.md` into `--out`;
`python -m eval durations` prints its table (eval/durations.py)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

from codec import CheckpointError
from codec.audio import AudioError, load_audio

from .asr import ASR_BACKENDS, ASRError, load_asr
from .codec_eval import ManifestItem, decoded_path, read_manifest, reconstruct, run_codec_eval
from .durations import add_arguments as add_duration_arguments
from .durations import run_durations
from .generate import DURATIONS, generate_test_set, output_path
from .protocol import (DEFAULT_PAIR_LIST, F5_LIST_SOURCE, PROMPT_RANGE_S, TARGET_RANGE_S, build_cross_sentence_pairs,
                       read_librispeech, read_pair_list, sha256_of, write_pair_list)
from .report import write_reports
from .speaker import SPEAKER_BACKENDS, SpeakerModelError, load_speaker_scorer
from .speed import bench_codec, bench_synthesize, new_speed_report, speed_markdown
from .zero_shot import combine_seed_reports, run_zero_shot_eval, seed_folder

EVAL_SEED = 0  # synthesis seed unless --seed says otherwise: an evaluation must be repeatable


def load_codec(args: argparse.Namespace) -> Any:
    """`--codec` (a WavCube, a Vocos mel vocoder, or griffin-lim), or by default the released WavCube on the hub
    (as `python -m codec`); `--codec-config` loads a released WavCube `.ckpt` of non-default size."""
    from codec import open_codec
    from codec.cli import load_codec as load_wavcube
    from codec.interface import codec_subfolder
    from codec.model import DEFAULT_WAVCUBE

    source = args.codec or DEFAULT_WAVCUBE
    if args.codec_config:
        return load_wavcube(argparse.Namespace(checkpoint=source, subfolder=args.codec_subfolder,
                                               config=args.codec_config, device=args.device))
    return open_codec(source, codec_subfolder(source, args.codec_subfolder), device=_device(args.device))


def load_synthesizer(model: str, args: argparse.Namespace, device: torch.device) -> Any:
    """A `tts.Synthesizer` from a TTS checkpoint, with `--codec` if given, else the codec the checkpoint records
    (references come with transcripts, so its own ASR is never loaded)."""
    from tts import Synthesizer as TTSSynthesizer

    codec = load_codec(args) if args.codec or args.codec_config else None
    return TTSSynthesizer.from_pretrained(model, codec, device)


def _codec_record(args: argparse.Namespace, codec: Any) -> dict[str, Any]:
    """What the reports say of the codec: the flags, and the codec's own record (kind, source, latents)."""
    return {**_codec_config(args), "spec": codec.spec().to_dict()}


def synthesis_options(args: argparse.Namespace) -> dict[str, Any]:
    """Every `tts.SynthesisOptions` field from the command line (validated), as call overrides."""
    from tts.options import options_from_args

    return dataclasses.asdict(options_from_args(args))


def _device(name: str) -> torch.device:
    from codec.device import pick_device

    return pick_device(name)


def _scorers(args: argparse.Namespace, device: torch.device):
    asr = None if args.asr == "none" else load_asr(args.asr, args.asr_model, device, args.score_batch_size)
    scorer = None if args.speaker == "none" else load_speaker_scorer(args.speaker, args.speaker_checkpoint, device)
    return asr, scorer


def _codec_config(args: argparse.Namespace) -> dict[str, Any]:
    return {"checkpoint": args.codec, "subfolder": args.codec_subfolder, "config": args.codec_config}


def run_tts(args: argparse.Namespace) -> dict:
    device, out = _device(args.device), Path(args.out)
    if args.derive:
        pairs = build_cross_sentence_pairs(read_librispeech(args.librispeech), seed=args.derive_seed)
        out.mkdir(parents=True, exist_ok=True)
        write_pair_list(pairs, out / "pairs.lst")  # the derived list, kept for reruns (--pairs OUT/pairs.lst)
        pairs_cfg = {"source": "derived", "path": str(out / "pairs.lst"), "is_f5_list": False,
                     "seed": args.derive_seed, "target_range_s": TARGET_RANGE_S, "prompt_range_s": PROMPT_RANGE_S}
    else:
        list_path = Path(args.pairs) if args.pairs else DEFAULT_PAIR_LIST
        if not list_path.is_file():
            raise FileNotFoundError(
                f"pair list not found: {list_path}. Get F5-TTS's list ({F5_LIST_SOURCE['url']}, sha256 "
                f"{F5_LIST_SOURCE['sha256']}) and pass --pairs, or use --derive to build pairs from the tree")
        pairs = read_pair_list(list_path, args.librispeech)
        digest = sha256_of(list_path)
        pairs_cfg = {"source": "list", "path": str(list_path), "sha256": digest,
                     "is_f5_list": digest == F5_LIST_SOURCE["sha256"], "f5_list": F5_LIST_SOURCE}
    if args.limit:
        pairs = pairs[: args.limit]
    pairs_cfg.update(count=len(pairs), limit=args.limit)
    if not pairs:
        raise ValueError("no prompt/target pairs to evaluate")
    options = synthesis_options(args)  # before loading anything: bad options fail fast
    if args.durations != "model" and (options["duration"] is not None or not args.model):
        raise ValueError(f"--durations {args.durations} sets each target's length for --model; it cannot go with "
                         "--duration (one length for all) or score audio that is already made")
    if args.seeds is not None and not args.model:
        raise ValueError("--seeds sets synthesis seeds: it needs --model (generated audio or recordings have none)")
    if args.seeds is not None and len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds repeats a seed: {args.seeds}")
    asr, scorer = _scorers(args, device)
    if args.model:
        synthesizer = load_synthesizer(args.model, args, device)
        codec_record = _codec_record(args, synthesizer.codec)
        if args.seeds is not None:
            reports = [_generate_and_score(args, synthesizer, pairs, pairs_cfg, {**options, "seed": seed}, asr,
                                           scorer, device, seed_folder(out, seed), codec_record)
                       for seed in args.seeds]
            system = _model_system(args, {**options, "seed": None}, codec_record)
            return combine_seed_reports(reports, args.seeds, out, _tts_config(args, pairs_cfg, system, asr, scorer),
                                        device)
        return _generate_and_score(args, synthesizer, pairs, pairs_cfg, options, asr, scorer, device, out,
                                   codec_record)
    if args.generated:
        system = {"kind": "generated", "name": args.name or Path(args.generated).name, "path": args.generated}
        audio = [output_path(args.generated, p) for p in pairs]
        missing = [str(a) for a in audio if not a.is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} generated files missing, e.g. {missing[0]}")
    else:
        system = {"kind": "ground_truth", "name": args.name or "ground truth (target recordings)"}
        audio = [p.target.wav for p in pairs]
    config = _tts_config(args, pairs_cfg, system, asr, scorer)
    return run_zero_shot_eval(pairs, audio, out, asr, scorer, config, device, None, args.score_batch_size)


def _model_system(args: argparse.Namespace, options: dict[str, Any], codec_record: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "model", "name": args.name or Path(args.model).name, "model": args.model,
            "codec": codec_record, "options": options, "durations": args.durations}


def _tts_config(args: argparse.Namespace, pairs_cfg: dict[str, Any], system: dict[str, Any], asr: Any,
                scorer: Any) -> dict[str, Any]:
    return {"pairs": pairs_cfg, "librispeech": str(args.librispeech), "system": system,
            "asr": asr.describe(), "speaker": scorer.describe(), "score_batch_size": args.score_batch_size}


def _generate_and_score(args: argparse.Namespace, synthesizer: Any, pairs: list, pairs_cfg: dict[str, Any],
                        options: dict[str, Any], asr: Any, scorer: Any, device: torch.device, out: Path,
                        codec_record: dict[str, Any]) -> dict:
    """Generate the test set into `out/wavs` with `options` (resumable) and score it into `out/report.*`."""
    wav_dir = out / "wavs"
    generation = generate_test_set(synthesizer, pairs, wav_dir, record={"model": args.model, **codec_record},
                                   batch_size=options["batch_size"], options=options, durations=args.durations)
    audio = [output_path(wav_dir, p) for p in pairs]
    config = _tts_config(args, pairs_cfg, _model_system(args, options, codec_record), asr, scorer)
    return run_zero_shot_eval(pairs, audio, out, asr, scorer, config, device, generation, args.score_batch_size)


def run_codec(args: argparse.Namespace) -> dict:
    device, out = _device(args.device), Path(args.out)
    if args.manifest:
        items = read_manifest(args.manifest)
        source = {"manifest": str(Path(args.manifest).resolve()), "sha256": sha256_of(args.manifest)}
    else:
        items = [ManifestItem(u.id, u.wav, u.text) for u in read_librispeech(args.librispeech)]
        source = {"librispeech": str(args.librispeech)}
    if args.limit:
        items = items[: args.limit]
    asr, scorer = _scorers(args, device)
    codec = load_codec(args)
    record = _codec_record(args, codec)
    name = record["spec"]["source"]
    codec_cfg = {"name": args.name or (name + (f"/{args.codec_subfolder}" if args.codec_subfolder else "")), **record}
    rec = reconstruct(codec, items, out / "decoded", record={"codec": codec_cfg})
    config = {"data": {**source, "count": len(items), "limit": args.limit}, "codec": codec_cfg,
              "asr": asr.describe() if asr else None, "speaker": scorer.describe() if scorer else None,
              "score_batch_size": args.score_batch_size}
    decoded = [decoded_path(out / "decoded", it) for it in items]
    return run_codec_eval(items, decoded, out, asr, scorer, config, device, rec, args.score_batch_size)


def run_speed(args: argparse.Namespace) -> dict:
    device, out = _device(args.device), Path(args.out)
    options = synthesis_options(args)
    if args.model and not (args.ref_wav and args.ref_text):
        raise ValueError("timing synthesis needs a prompt: --ref-wav and --ref-text")
    synthesizer = load_synthesizer(args.model, args, device) if args.model else None
    codec = synthesizer.codec if synthesizer is not None else load_codec(args)
    config: dict[str, Any] = {"lengths_s": args.lengths, "repeats": args.repeats, "batch_size": 1,
                              "codec": _codec_record(args, codec)}
    results = bench_codec(codec, args.lengths, device, args.repeats)
    if synthesizer is not None:
        ref_wav, ref_sr = load_audio(args.ref_wav)
        config["tts"] = {"model": args.model, "ref_wav": args.ref_wav, "ref_text": args.ref_text, "options": options}
        results += bench_synthesize(synthesizer, args.lengths, ref_wav, ref_sr,
                                    args.ref_text, device, args.repeats, **options)
    report = new_speed_report(config, device, results)
    write_reports(out, report, speed_markdown(report))
    return report


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output directory (reports, generated/decoded audio)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default %(default)s)")


def _codec_args(p: argparse.ArgumentParser) -> None:
    """The codec flags of `python -m tts` (same names, same defaults)."""
    from codec.model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER

    p.add_argument("--codec", default=os.environ.get("CUBETTS_CODEC") or None,
                   help="codec directory, released .ckpt, Vocos folder, hub id, or griffin-lim (env CUBETTS_CODEC; "
                        f"default: the codec a --model records, else {DEFAULT_WAVCUBE})")
    p.add_argument("--codec-subfolder", help=f"subfolder of a codec hub repo ({DEFAULT_WAVCUBE_SUBFOLDER!r} for the default)")
    p.add_argument("--codec-config", help="codec config.json for a released .ckpt of non-default size")


def _synthesis_args(p: argparse.ArgumentParser) -> None:
    """One flag per `tts.SynthesisOptions` field; the seed defaults to EVAL_SEED, not to random."""
    from tts.options import SynthesisOptions, add_option_arguments

    add_option_arguments(p, SynthesisOptions(seed=EVAL_SEED))


def _scoring(p: argparse.ArgumentParser, optional: bool) -> None:
    """ASR and speaker-model choices; `optional` adds `none` (the codec run can skip WER or SIM)."""
    none = ("none",) if optional else ()
    p.add_argument("--asr", default="faster-whisper", choices=ASR_BACKENDS + none,
                   help="ASR for WER (default faster-whisper: Whisper large-v3 in CTranslate2, beam 5, F5-TTS's own "
                        "scorer; whisper: the same weights through transformers)")
    p.add_argument("--asr-model", help="ASR checkpoint for scoring: local path or hub id (whisper/hubert)")
    p.add_argument("--speaker", default="resemblyzer", choices=SPEAKER_BACKENDS + none,
                   help="speaker model for SIM (wavlm-ecapa is the papers' SIM-o; needs --speaker-checkpoint)")
    p.add_argument("--speaker-checkpoint", help="TorchScript WavLM-ECAPA file for --speaker wavlm-ecapa")
    p.add_argument("--score-batch-size", type=int, default=8, help="clips per ASR/speaker-model batch")
    p.add_argument("--limit", type=int, help="only the first N items (smoke runs; not comparable)")
    p.add_argument("--name", help="system name shown in the report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="cubetts evaluation")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("tts", help="zero-shot TTS on LibriSpeech test-clean, cross-sentence (WER, SIM-o)")
    t.add_argument("--librispeech", required=True, help="the LibriSpeech test-clean directory (<spk>/<chapter>/...)")
    lists = t.add_mutually_exclusive_group()
    lists.add_argument("--pairs", help=f"F5-TTS-format pair list (default: {DEFAULT_PAIR_LIST} if present)")
    lists.add_argument("--derive", action="store_true", help="derive pairs from the tree (4-10 s targets)")
    t.add_argument("--derive-seed", type=int, default=0, help="prompt draw for --derive")
    system = t.add_mutually_exclusive_group(required=True)
    system.add_argument("--model", help="TTS model directory or hub id; generates into OUT/wavs (resumable)")
    system.add_argument("--generated", help="score existing <target id>.wav files of another system")
    system.add_argument("--ground-truth", action="store_true", help="score the target recordings (the topline)")
    t.add_argument("--durations", choices=DURATIONS, default="model",
                   help="how long each target is asked to be: the model's own duration rule (default), F5-TTS's "
                        "eval estimate from the prompt's UTF-8 bytes per second (what its published figures use; "
                        "the list's prompts were chosen to match it), or the target's real length (a topline)")
    t.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                   help="generate and score once per synthesis seed (into OUT/seed-N) and report each and the "
                        "mean, as F5-TTS does with 0 1 2; replaces --seed")
    _codec_args(t)
    _synthesis_args(t)
    _common(t)
    _scoring(t, optional=False)

    c = sub.add_parser("codec", help="codec reconstruction over a manifest (PESQ, STOI, mel, WER, SIM)")
    data = c.add_mutually_exclusive_group(required=True)
    data.add_argument("--manifest", help="TSV with id, file (relative to it) and transcript columns")
    data.add_argument("--librispeech", help="a LibriSpeech-style directory (all utterances with transcripts)")
    _codec_args(c)
    _common(c)
    _scoring(c, optional=True)

    s = sub.add_parser("speed", help="real-time factor and peak memory of encode, decode (and synthesize)")
    _codec_args(s)
    s.add_argument("--model", help="TTS model to time as well")
    s.add_argument("--ref-wav", help="prompt audio for synthesis timing")
    s.add_argument("--ref-text", help="its transcript")
    s.add_argument("--lengths", type=float, nargs="+", default=[5.0, 10.0, 20.0], help="audio lengths in seconds")
    s.add_argument("--repeats", type=int, default=3, help="timed calls per point (median reported)")
    _synthesis_args(s)
    _common(s)

    d = sub.add_parser("durations", help="duration rules against real speech lengths (text and durations only)")
    add_duration_arguments(d)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "durations":  # prints its table; --out is optional
        try:
            return run_durations(args)
        except (ValueError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    run = {"tts": run_tts, "codec": run_codec, "speed": run_speed}[args.command]
    try:
        report = run(args)
    except (AudioError, ASRError, CheckpointError, SpeakerModelError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    print(f"wrote {out / 'report.json'} and {out / 'report.md'}")
    summary = report.get("scores", {}).get("summary")
    if summary:
        print(json.dumps(summary, indent=2))
    return 0
