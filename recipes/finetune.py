"""Fine-tune a model we load on your own clips, and know within minutes whether it is learning to read.

    python -m recipes.finetune --from F5TTS_v1_Base --data my_clips/ --run-dir runs/my-voice
    accelerate launch -m recipes.finetune --from F5TTS_v1_Base --data my_clips/ --run-dir runs/my-voice

`--from`: anything `tts.loading.load_model` takes (an F5-TTS release name, hub path or local checkpoint with
its vocab.txt; a cubetts model folder or hub id). The model keeps its codec, tokenizer and synthesis rules;
its vocabulary grows by the characters (F5-TTS's tokenizer) the new transcripts need (`tts.vocab_growth`).
`--data`: a folder with `metadata.csv`, a manifest, or a folder of audio alone (`recipes.user_data`). Each clip
is checked; what is skipped is listed with the reason. The run folder holds `data/` (the checked manifests, a
held-out slice, the recognizer's transcripts, the latents, extracted once), the checkpoints, `samples/` and
`model/`: the newest EMA weights, the fine-tuned model to synthesise with.

Training is `recipes.train_tts.fit`: Accelerate on one or many GPUs, exact resume, EMA, checkpoints. Every
`text_gap_every` steps (and before the first) the alignment guard (`recipes.alignment_guard`) measures, on the
held-out slice, whether each clip is predicted better from its transcript than from it read backwards, and says
whether the model uses the text (`--stop-if-not-aligned` stops a run that has not for `guard_patience` steps);
samples of the held-out clips are written (WAV and TensorBoard) with their WER where the offline recognizer is
installed.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from accelerate import Accelerator, PartialState

from codec import load_codec, open_codec
from codec.checkpoint import CheckpointError
from codec.interface import Codec, codec_subfolder
from recipes.alignment_guard import AlignmentGuard
from recipes.checkpoint import list_checkpoints
from recipes.config import from_dict, load_config, saved_config
from recipes.ema import EMASchedule
from recipes.extract_latents import extract
from recipes.guard_monitor import GuardMonitor
from recipes.manifest import Utterance, write_manifest
from recipes.run import Run, RunLockedError, run_parser
from recipes.sampler import frame_batches
from recipes.shards import LatentDataset
from recipes.train_tts import TTSTrainConfig, fit, seconds_to_frames, shard_frame_rate
from recipes.user_data import (ClipRules, DataError, Skipped, Transcribe, read_user_data, recognizer_transcribe,
                               split_heldout, write_skipped)
from tts.loading import load_model
from tts.model import TTSConfig, TTSModel, check_codec_fits
from tts.text import TextError, build_tokenizer
from tts.vocab_growth import grow_vocabulary, missing_tokens

if TYPE_CHECKING:
    from eval.asr import ASR

logger = logging.getLogger(__name__)

# F5-TTS's fine-tuning defaults (its train/finetune_gradio.py settings and finetune_cli.py): learning rate 1e-5,
# 100 warm-up updates, 3,200 mel frames per GPU (at 93.75 Hz: 34.13 s of audio, here in seconds so that any
# codec gets the same batch), at most 64 utterances, 100 epochs, a checkpoint every 500 updates.
F5_FINETUNE_BATCH_SECONDS = 3200 * 256 / 24000


def finetune_training(**overrides) -> TTSTrainConfig:
    """The training settings of a fine-tuning run; `model` and `max_steps` are set from the starting model and
    the data (`prepare`)."""
    # `model` is a placeholder here: every run replaces it by the starting model's config.
    settings = dict(model=TTSConfig.tiny(tokenizer="char"), lr=1e-5, warmup_steps=100, max_steps=0,
                    batch_seconds=F5_FINETUNE_BATCH_SECONDS, max_samples=64, checkpoint_every=500, log_every=10,
                    sample_every=0,  # the guard writes samples of the held-out clips at each measurement
                    text_gap_every=100, text_gap_items=8)
    return TTSTrainConfig(**{**settings, **overrides})


@dataclass(frozen=True)
class FinetuneConfig:
    train: TTSTrainConfig = field(default_factory=finetune_training)
    epochs: int = 100  # F5-TTS's fine-tuning default; sets train.max_steps from the data
    freeze: str = "none"  # "none": every weight trains; "all-but-text": only the text embedding and its blocks
    heldout_items: int = 8  # clips held out for the guard (at most a fifth of the data)
    guard_patience: int = 1000  # steps the held-out order score may average guard_flag_at or less
    guard_flag_at: float = 1.0  # see recipes.alignment_guard.AlignmentGuard
    samples: int = 2  # held-out clips regenerated at each measurement (WAV, TensorBoard, WER)
    clips: ClipRules = field(default_factory=ClipRules)
    source: str = ""  # set by the run: the model fine-tuned from (--from)
    data_sha256: str = ""  # set by the run: the checked manifests' digest (the data a resume must train on)

    def __post_init__(self):
        if self.freeze not in FREEZE:
            raise ValueError(f"freeze must be one of {sorted(FREEZE)}, got {self.freeze!r}")

    @classmethod
    def tiny(cls) -> "FinetuneConfig":
        """Seconds on a CPU: tests and smoke runs."""
        return cls(train=finetune_training(lr=2e-3, warmup_steps=2, batch_seconds=8.0, workers=0, log_every=2,
                                           checkpoint_every=4, keep_checkpoints=2, text_gap_every=4,
                                           text_gap_items=4, sample_nfe=2,
                                           ema=EMASchedule(max_decay=0.99, update_every=2, update_after=4)),
                   epochs=4, heldout_items=2, guard_patience=8, samples=1)


PRESETS: dict[str, Callable[[], FinetuneConfig]] = {"default": FinetuneConfig, "tiny": FinetuneConfig.tiny}
TEXT_SIDE = "dit.text_embed."
FREEZE: dict[str, Callable[[str], bool]] = {  # parameter name → trains
    "none": lambda name: True,
    "all-but-text": lambda name: name.startswith(TEXT_SIDE),
}


def freeze(model: TTSModel, mode: str) -> None:
    """Set which parameters train: `FREEZE[mode]` of their names."""
    for name, param in model.named_parameters():
        param.requires_grad_(FREEZE[mode](name))


@dataclass(frozen=True)
class Prepared:
    """A fine-tuning run's inputs, checked: the starting model (vocabulary grown), its codec, the latents."""

    config: FinetuneConfig
    model: TTSModel
    codec: Codec
    train_shards: Path
    heldout_shards: Path
    new_tokens: list[str]
    skipped: list[Skipped]


def prepare(config: FinetuneConfig, source: str, data: str | Path, run_dir: str | Path, codec: str | None = None,
            transcribe: Transcribe | None = None, skip_bad_lines: bool = False, workers: int = 4, cpu: bool = False,
            **codec_kwargs) -> Prepared:
    """Everything before training, each input checked with a specific message (DataError, VocabularyError,
    CodecMismatchError, CheckpointError) before any training starts: the model and its codec, the clips and
    transcripts, the vocabulary; then the held-out split, the manifests and the latents (extracted once, reused
    by later runs). Writes only under `run_dir/data`."""
    run_dir, data = Path(run_dir).absolute(), Path(data).expanduser().absolute()
    if data.is_dir() and (run_dir == data or data in run_dir.parents):
        raise DataError(f"--run-dir {run_dir} is inside the data folder {data}: choose one outside it (nothing is "
                        f"written into your data)")
    # Accelerate's state is one per process and cannot change precision once made: make it as `Run` will (the
    # extraction's Accelerator, which names no precision, then joins it), not with the extraction's default.
    use_cpu = cpu or not torch.cuda.is_available()
    Accelerator(mixed_precision="no" if use_cpu else config.train.mixed_precision, cpu=use_cpu)
    state = PartialState()
    data_dir = run_dir / "data"
    # The main process converts (F5-TTS checkpoints are cached once), downloads, transcribes and writes; the
    # others then read what it wrote.
    with state.main_process_first():
        model = load_model(source)
        the_codec = _codec_of(model.config, codec, state.device, **codec_kwargs)
        found = read_user_data(data, data_dir, config.clips, transcribe, skip_bad_lines, workers)
    new_tokens = missing_tokens(model.config, [u.text for u in found.utterances])  # a fixed vocabulary refuses here
    utts, skipped = _speakable(found.utterances, model.config, list(found.skipped))
    train, heldout = split_heldout(utts, config.heldout_items, config.train.seed)
    digest = _digest(train, heldout)
    _check_same_run(run_dir, source, digest)
    if state.is_main_process:
        data_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(data_dir / "train.tsv", train)
        write_manifest(data_dir / "heldout.tsv", heldout)
        write_skipped(data_dir / "skipped.tsv", skipped)
        print(replace(found, utterances=utts, skipped=skipped).report(), flush=True)
        if new_tokens:
            print(f"vocabulary: the transcripts need {len(new_tokens)} tokens the model lacks "
                  f"({' '.join(new_tokens[:40])}{' …' if len(new_tokens) > 40 else ''}): each gets a new text-embedding "
                  f"row, the old rows unchanged", flush=True)
    state.wait_for_everyone()
    codec_name, kwargs = _extraction_codec(model.config, codec, codec_kwargs)
    latents = data_dir / "latents" / hashlib.sha256(f"{digest} {codec_name} {kwargs}".encode()).hexdigest()[:12]
    shards = {split: latents / split for split in ("train", "heldout")}  # a folder per data and codec: reused
    for split, folder in shards.items():
        extract(data_dir / f"{split}.tsv", codec_name, folder, workers=workers, cpu=cpu, **kwargs)
    grown = grow_vocabulary(model, new_tokens) if new_tokens else model
    steps = config.epochs * _batches_per_epoch(config.train, shards["train"], state.process_index,
                                                 state.num_processes)
    config = replace(config, train=replace(config.train, model=grown.config, max_steps=steps), source=str(source),
                     data_sha256=digest)
    return Prepared(config, grown, the_codec, shards["train"], shards["heldout"], new_tokens, skipped)


def _codec_of(config: TTSConfig, codec: str | None, device: torch.device, **codec_kwargs) -> Codec:
    """The codec the model was trained on (its record), or `codec` when it gives the same latents."""
    if codec is not None:
        given = open_codec(codec, device=device, **codec_kwargs).eval()
        check_codec_fits(config, given)
        return given
    if config.codec is None:
        raise CheckpointError("the model records no codec (saved by an older version): name the one its latents "
                              "came from with --codec")
    return load_codec(config.codec, device)


def _extraction_codec(config: TTSConfig, codec: str | None, codec_kwargs: dict) -> tuple[str, dict]:
    """What `extract` opens: `codec` as given, else the model's record (`_codec_of` refused a model without one)."""
    if codec is not None or config.codec is None:
        return str(codec), dict(codec_kwargs)
    return config.codec.source, {"subfolder": config.codec.subfolder, "revision": config.codec.revision}


def _speakable(utts: list[Utterance], config: TTSConfig,
               skipped: list[Skipped]) -> tuple[list[Utterance], list[Skipped]]:
    """The utterances whose transcript the model's tokenizer can read; the others join `skipped`."""
    tokenizer = build_tokenizer(config.tokenizer, config.vocab)
    kept = []
    for u in utts:
        try:
            tokenizer.normalize(u.text)
        except TextError as err:
            skipped.append(Skipped(u.path, f"transcript: {err}"))
            continue
        kept.append(u)
    if not kept:
        raise DataError("no clip has a transcript the model can read:\n  " +
                        "\n  ".join(f"{s.path}: {s.reason}" for s in skipped[:20]))
    return kept, skipped


def _digest(train: list[Utterance], heldout: list[Utterance]) -> str:
    """What a run trains and is measured on: both manifests' rows."""
    digest = hashlib.sha256()
    for name, utts in (("train", train), ("heldout", heldout)):
        digest.update(f"{name}\n".encode())
        for u in utts:
            digest.update(("\t".join([u.id, u.path, f"{u.duration:.4f}", u.speaker, u.text]) + "\n").encode())
    return digest.hexdigest()


def _check_same_run(run_dir: Path, source: str, digest: str) -> None:
    """A run folder trains one model on one data set: say so before extracting anything."""
    saved = saved_config(run_dir)
    if saved is None:
        return
    if saved.get("source") != str(source):
        raise ValueError(f"{run_dir} fine-tunes {saved.get('source')!r}, not {source!r}: use a new --run-dir")
    if saved.get("data_sha256") != digest:
        raise DataError(f"{run_dir} was trained on other data (clips, transcripts or the clip checks changed "
                        f"since): use a new --run-dir, or restore the data")


def _batches_per_epoch(config: TTSTrainConfig, shards: Path, rank: int, world: int) -> int:
    max_frames = seconds_to_frames(config.batch_seconds, shard_frame_rate(shards))
    return len(frame_batches(LatentDataset(shards).lengths, max_frames, config.max_samples, config.seed, 0, rank,
                             world))


@dataclass(frozen=True)
class Result:
    losses: list[float]  # this process's loss at each step it ran
    verdicts: list  # the guard's verdicts (main process), `recipes.alignment_guard.Verdict`
    model: Path | None  # run_dir/model: the newest EMA weights, None before the first checkpoint


def finetune(config: FinetuneConfig, source: str, data: str | Path, run_dir: str | Path, codec: str | None = None,
             until_step: int | None = None, cpu: bool = False, stop_if_not_aligned: bool = False,
             asr: Callable[[], ASR] | None = None, transcribe: Transcribe | None = None,
             skip_bad_lines: bool = False, workers: int = 4, **codec_kwargs) -> Result:
    """Fine-tune `source` on `data` in `run_dir` (or resume it): `prepare`, then `train`; see the module
    docstring. `asr` makes the recognizer that scores the samples (None: no WER); `transcribe` transcribes
    audio that comes without a transcript."""
    prepared = prepare(config, source, data, run_dir, codec, transcribe, skip_bad_lines, workers, cpu,
                       **codec_kwargs)
    return train(prepared, run_dir, until_step, cpu, stop_if_not_aligned, asr)


def train(prepared: Prepared, run_dir: str | Path, until_step: int | None = None, cpu: bool = False,
          stop_if_not_aligned: bool = False, asr: Callable[[], ASR] | None = None) -> Result:
    """Train a prepared run (`recipes.train_tts.fit` with the guard's monitor); export `run_dir/model`."""
    config = prepared.config
    with Run(run_dir, config, config.train.mixed_precision, cpu) as run:
        model = prepared.model
        freeze(model, config.freeze)
        heldout = LatentDataset(prepared.heldout_shards)
        items = [heldout[i] for i in range(min(config.samples, len(heldout)))]
        guard = AlignmentGuard(config.guard_patience, config.guard_flag_at)
        monitor = GuardMonitor(run, guard, prepared.codec, items, config.train.sample_nfe,
                               asr if run.is_main else None, stop_if_not_aligned)
        losses = fit(run, config.train, model, prepared.train_shards, prepared.heldout_shards,
                     until_step=until_step, monitor=monitor)
        exported = export(Path(run_dir)) if run.is_main else None
        run.barrier()
    if exported is not None:
        print(f"fine-tuned model: {exported} (python -m app --tts {exported})", flush=True)
    return Result(losses, monitor.verdicts, exported)


def export(run_dir: Path) -> Path | None:
    """Copy the newest checkpoint's EMA weights to `run_dir/model` (replacing an older copy)."""
    found = list_checkpoints(run_dir / "checkpoints")
    if not found:
        return None
    out, tmp = run_dir / "model", run_dir / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(found[-1] / "ema", tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def whisper_base(language: str, fallback: bool) -> Callable[[], ASR]:
    """A maker of the offline Whisper base recognizer (faster-whisper; `eval.asr.FasterWhisperASR`)."""
    def make():
        from eval.asr import FasterWhisperASR

        return FasterWhisperASR("base", language=language, fallback=fallback)
    return make


def resolve_finetune_config(spec: str | None, run_dir: Path, freeze_mode: str | None) -> FinetuneConfig:
    """`--config` (a preset or file); else the config of the run being resumed; else the `default` preset."""
    saved = saved_config(run_dir)
    if spec is not None:
        config = load_config(FinetuneConfig, spec, PRESETS)
    elif saved is not None:
        config = from_dict(FinetuneConfig, saved)
    else:
        config = FinetuneConfig()
    return replace(config, freeze=freeze_mode) if freeze_mode else config


def main(argv: list[str] | None = None) -> None:
    p = run_parser(__doc__, PRESETS)
    p.add_argument("--from", dest="source", required=True,
                   help="the model to start from: F5-TTS release name (F5TTS_v1_Base), hub path, local checkpoint "
                        "with its vocab.txt, or a cubetts model folder or hub id")
    p.add_argument("--data", required=True, help="a folder with metadata.csv (id|text), a manifest (.tsv), or a "
                                                 "folder of audio alone (transcribed by Whisper base)")
    p.add_argument("--codec", default=None, help="the codec to extract with, in place of the one the model records "
                                                 "(it must give the same latents, e.g. griffin-lim for the mel)")
    p.add_argument("--codec-subfolder", default=None, help="hub subfolder of --codec")
    p.add_argument("--freeze", choices=sorted(FREEZE), default=None,
                   help="which weights stay fixed (default: the config's, none)")
    p.add_argument("--stop-if-not-aligned", action="store_true",
                   help="stop (with a checkpoint) when the guard finds the model not using the text")
    p.add_argument("--no-wer", action="store_true", help="do not score the samples with the offline recognizer")
    p.add_argument("--asr-language", default="en", help="language of the data, for transcription and WER "
                                                        "(default: %(default)s)")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="leave out bad lines of metadata.csv or a manifest (each is reported) instead of stopping")
    p.add_argument("--prepare-only", action="store_true",
                   help="check, transcribe and extract, then stop: to review run-dir/data/metadata.csv first")
    p.add_argument("--workers", type=int, default=4, help="files read in parallel (default: %(default)s)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per clip it transcribes
    run_dir = Path(args.run_dir)
    codec_kwargs = {"subfolder": codec_subfolder(args.codec, args.codec_subfolder)} if args.codec else {}
    try:  # every input is checked here, before any training: its errors are messages, not tracebacks
        config = resolve_finetune_config(args.config, run_dir, args.freeze)
        prepared = prepare(config, args.source, args.data, run_dir, args.codec, _lazy_transcribe(args.asr_language),
                           args.skip_bad_lines, args.workers, args.cpu, **codec_kwargs)
    except (ValueError, CheckpointError) as err:  # DataError, VocabularyError, CodecMismatchError among them
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if args.prepare_only:
        print(f"prepared {run_dir / 'data'}; run the same command without --prepare-only to train", flush=True)
        return
    asr = None if args.no_wer else whisper_base(args.asr_language, fallback=False)
    try:
        train(prepared, run_dir, args.until_step, args.cpu, args.stop_if_not_aligned, asr)
    except RunLockedError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def _lazy_transcribe(language: str) -> Transcribe:
    """Whisper base transcribing audio that has no transcript; loaded only when some audio needs it."""
    def run(paths: list[Path]) -> list[str]:
        return recognizer_transcribe(whisper_base(language, fallback=True)())(paths)
    return run


if __name__ == "__main__":
    main()
