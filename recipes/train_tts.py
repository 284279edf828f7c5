"""Train the text-to-latent model on latent shards, from one CPU to many GPU nodes.

    accelerate launch -m recipes.train_tts --config base --shards data/latents/train \
        --run-dir runs/tts-base --sample-shards data/latents/heldout

Batches hold up to `batch_seconds` of audio per process (padding included, converted to latent frames at
the shards' frame rate) and at most `max_samples` utterances; AdamW with linear warm-up and cosine decay;
gradient clipping; bf16 autocast on GPU; EMA weights on F5-TTS's schedule. Checkpoints (every
`checkpoint_every` steps and at exit) hold `model/` and `ema/` in `TTSModel.save_pretrained`
format; the EMA one is the model to synthesise with. Rerunning the same command resumes exactly.
The model records the codec the shards were extracted with (`TTSConfig.codec`), and its audio
samples are decoded with that codec unless `--codec` names another of the same latents.
Every `text_gap_every` steps the loss on a fixed held-out batch is logged with and without its text
(`text_gap`): the gap turns positive once the model uses the text.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol


import torch
from accelerate.utils import set_seed
from safetensors.torch import load_file
from torch.nn.utils.rnn import pad_sequence

from codec import check_codec, load_codec, open_codec
from codec.checkpoint import WEIGHTS_NAME, load_strict
from codec.masks import length_mask
from recipes.checkpoint import set_rng_state
from recipes.config import resolve_config
from recipes.ema import EMA, EMASchedule
from recipes.fit_duration import fit_for_training
from recipes.run import Run, make_loader, run_parser, set_lr, warmup_cosine
from recipes.sampler import frame_batches
from recipes.shards import LatentDataset, load_codec_spec, load_stats
from tts.duration import WEIGHTED_RULES
from tts.flow import random_span_mask
from tts.model import TTSConfig, TTSModel
from tts.options import SynthesisOptions
from tts.synthesizer import Synthesizer
from tts.text import TextError, Tokenizer, build_tokenizer

logger = logging.getLogger(__name__)


def spread(config: TTSConfig) -> TTSConfig:
    """The models we train lay the text out spread over the frames, an alignment prior: on the learning
    benchmark its text gap turned positive from the first measurement, the filler layout's later and smaller
    (eval/RESULTS.md). F5-TTS checkpoints keep their filler layout (they record it)."""
    return replace(config, dit=replace(config.dit, text_layout="spread"))


@dataclass(frozen=True)
class TTSTrainConfig:
    model: TTSConfig = field(default_factory=lambda: spread(TTSConfig.base()))
    lr: float = 7.5e-5  # F5-TTS Base and Small
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    warmup_steps: int = 20_000
    max_steps: int = 500_000
    # F5-TTS's per-GPU batch: 38,400 mel frames at 93.75 Hz = 409.6 s of audio (20,480 latent frames at 50 Hz),
    # here with padding included; in seconds so that every codec gets the reference's batch.
    batch_seconds: float = 409.6
    max_samples: int = 64  # F5-TTS's cap on utterances per batch: 64 for Base, 32 for Small
    max_grad_norm: float = 1.0
    ema: EMASchedule = field(default_factory=EMASchedule)  # F5-TTS's (ema_pytorch's defaults)
    mixed_precision: str = "bf16"  # on GPU; CPU runs in float32
    seed: int = 0
    workers: int = 4  # data-loading processes per training process
    log_every: int = 100
    checkpoint_every: int = 10_000
    keep_checkpoints: int = 3
    sample_every: int = 10_000  # TensorBoard audio from the EMA model, decoded by the shards' codec
    sample_nfe: int = SynthesisOptions().nfe
    text_gap_every: int = 1000  # the held-out loss with and without text (0: never)
    text_gap_items: int = 16  # utterances in that fixed batch (from --sample-shards, else the training shards)

    @classmethod
    def base(cls) -> "TTSTrainConfig":
        """DiT Base (~330M): 8 × 80 GB GPUs."""
        return cls()

    @classmethod
    def small(cls) -> "TTSTrainConfig":
        """DiT Small (~155M): one or a few 80 GB GPUs."""
        return cls(model=spread(TTSConfig.small()), max_steps=300_000, max_samples=32)

    @classmethod
    def tiny(cls) -> "TTSTrainConfig":
        """Seconds on a CPU: for tests and smoke runs."""
        return cls(model=spread(TTSConfig.tiny(tokenizer="char")), lr=2e-3, warmup_steps=5, max_steps=60,
                   batch_seconds=32.0, max_samples=64, ema=EMASchedule(max_decay=0.99, update_every=2, update_after=10),
                   workers=0, log_every=10, checkpoint_every=30, keep_checkpoints=2, sample_every=30, sample_nfe=4,
                   text_gap_every=30, text_gap_items=4)


DEFAULT_FRAME_RATE = 50.0  # WavCube's; shards written before the codec was recorded in them hold its latents


def shard_frame_rate(shards: str | Path) -> float:
    """Latent frames per second of the shards: the `frame_rate` of the codec their extraction recorded, or
    50 Hz (WavCube) for shards written before codecs were recorded."""
    spec = load_codec_spec(shards)
    return spec.frame_rate if spec else DEFAULT_FRAME_RATE


def seconds_to_frames(seconds: float, frame_rate: float) -> int:
    """Whole frames in `seconds` of audio: 409.6 s → 20,480 at 50 Hz, 38,400 at 93.75 Hz."""
    frames = math.floor(seconds * frame_rate + 1e-6)  # a product a rounding error below a whole number counts it
    if frames < 1:
        raise ValueError(f"a batch of {seconds} s holds no frame at {frame_rate} Hz")
    return frames


PRESETS = {"base": TTSTrainConfig.base, "small": TTSTrainConfig.small, "tiny": TTSTrainConfig.tiny}


class Collate:
    """Dataset items → `{"latent": (B, N, D), "mask": (B, N), "text": (B, L) ids, 0-padded}`.

    Text is normalised and tokenised here, in the loader's worker processes; an utterance whose text has nothing
    speakable is dropped from its batch with a warning.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        latents, texts = [], []
        for item in items:
            try:
                texts.append(torch.tensor(self.tokenizer.encode(self.tokenizer.normalize(item["text"]))))
            except TextError as err:
                logger.warning("skipping %s: %s", item["id"], err)
                continue
            latents.append(item["latent"])
        if not latents:
            raise TextError(f"no speakable text in the batch of {[item['id'] for item in items]}")
        lengths = torch.tensor([x.shape[0] for x in latents])
        latent = pad_sequence(latents, batch_first=True)  # (B, N, D)
        mask = length_mask(lengths, latent.shape[1])  # (B, N)
        return {"latent": latent, "mask": mask, "text": pad_sequence(texts, batch_first=True)}


@torch.no_grad()
def regenerate(synthesizer: Synthesizer, item: dict, nfe: int) -> torch.Tensor:
    """Regenerate the last two thirds of `item` (`{"latent": (N, D), "text"}`) from its first third and full
    text, by the synthesis path (`Synthesizer.sample_latents`, seed 0: its own generator, not the global RNG).
    Returns the decoded waveform `(T,)`, the given third included, at the codec's rate."""
    latent = item["latent"]  # (N, D)
    n = latent.shape[0]
    prompt = max(1, n // 3)
    text = synthesizer.tokenizer.encode(synthesizer.tokenizer.normalize(item["text"]))
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(0))  # (N, D)
    out, _ = synthesizer.sample_latents([latent[:prompt]], [text], [noise], SynthesisOptions(nfe=nfe))  # (1, N, D)
    return synthesizer.codec.decode(out)[0]


@torch.no_grad()
def log_sample(run: Run, synthesizer: Synthesizer, item: dict, nfe: int, step: int) -> None:
    """Log `regenerate`'s waveform of `item` beside the item decoded from its ground-truth latents."""
    codec = synthesizer.codec
    run.log_audio("samples/generated", regenerate(synthesizer, item, nfe), step, codec.sample_rate)
    run.log_audio("samples/ground_truth", codec.decode(item["latent"][None].to(codec.device))[0], step,
                  codec.sample_rate)


def gap_draws(model: TTSModel, batch: dict[str, torch.Tensor],
              seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed `(span (B, N) bool, time (B,), noise (B, N, D))` that `text_gap` measures `batch` with, drawn
    from `seed` by a generator of their own."""
    latent, mask = batch["latent"], batch["mask"]
    B, N, D = latent.shape
    gen = torch.Generator().manual_seed(seed)
    span = random_span_mask(mask.sum(1).cpu(), N, model.config.span_range, generator=gen).to(latent.device)
    time = torch.rand(B, generator=gen).to(latent.device)
    noise = torch.randn(B, N, D, generator=gen).to(latent.device)
    return span, time, noise


@torch.no_grad()
def text_gap(model: TTSModel, batch: dict[str, torch.Tensor], seed: int = 0) -> dict[str, float]:
    """The flow-matching loss of `batch` (a `Collate` output) with its text, without, and with its text read
    backwards (each item's tokens in reverse order), the prompt kept.

    Span, flow time and noise are drawn from `seed` with a generator of their own (the training random
    state is untouched), so the numbers are comparable from step to step; dropout is off while measuring.
    Returns `{"loss_text", "loss_no_text", "loss_reversed", "text_gap", "order_gap"}`:
    text_gap = loss_no_text - loss_text, positive when the text helps the model predict the speech;
    order_gap = loss_reversed - loss_text, positive when it helps because its tokens come in their order, i.e.
    the model aligns them with the speech (the reversed text has the same length and the same tokens, so
    speaking rate and voice cues do not count). The text gap can be positive without alignment: a prompt with
    no text at all is a case training never shows (it drops the text only with the prompt), and early in a
    run it is as large for transcripts that do not match their audio (the fine-tuning tests' tone corpus).
    """
    latent, mask, text = batch["latent"], batch["mask"], batch["text"]
    B = latent.shape[0]
    span, time, noise = gap_draws(model, batch, seed)
    keep, drop = torch.zeros(B, dtype=torch.bool, device=latent.device), torch.ones(B, dtype=torch.bool,
                                                                                   device=latent.device)
    was_training = model.training
    model.eval()
    with_text, _ = model(latent, mask, text, span, time, noise, drop_audio=keep, drop_text=keep)
    without, _ = model(latent, mask, text, span, time, noise, drop_audio=keep, drop_text=drop)
    backwards, _ = model(latent, mask, reversed_text(text), span, time, noise, drop_audio=keep, drop_text=keep)
    model.train(was_training)
    return {"loss_text": with_text.item(), "loss_no_text": without.item(), "loss_reversed": backwards.item(),
            "text_gap": without.item() - with_text.item(), "order_gap": backwards.item() - with_text.item()}


def reversed_text(text: torch.Tensor) -> torch.Tensor:
    """text: (B, L) token ids, 0-padded → each row's tokens in reverse order, the padding left where it is."""
    lengths = (text != 0).sum(1, keepdim=True)  # (B, 1)
    positions = torch.arange(text.shape[1], device=text.device)[None]  # (1, L)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, L)
    return text.gather(1, source)


def with_codec_record(config: TTSTrainConfig, shards: str | Path) -> TTSTrainConfig:
    """`config` with the codec the shards were extracted with recorded in the model's config."""
    spec = load_codec_spec(shards)
    if spec is None:
        logger.warning("%s records no codec (extracted by an older version): the model will not name its codec, "
                       "and synthesis will need one given", shards)
        return config
    if config.model.codec is not None and config.model.codec != spec:
        raise ValueError(f"the config's model.codec {config.model.codec} is not the codec of the shards {spec}")
    return replace(config, model=replace(config.model, codec=spec))  # TTSConfig checks its latent_dim


class Monitor(Protocol):
    """What `fit` calls on the main process after each text-gap measurement (and once before the first step of
    a new run): it may log, write samples with the EMA model, and ask the run to stop. Its state is
    checkpointed with the run."""

    def __call__(self, step: int, gap: dict[str, float], model: TTSModel, ema: TTSModel,
                 batch: dict[str, torch.Tensor]) -> bool:
        """`gap`: `text_gap` of `model` (the trained weights, unwrapped) on `batch`, the fixed held-out batch.
        True: stop the run after this step (with a checkpoint)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


def train(config: TTSTrainConfig, shards: str | Path, run_dir: str | Path, codec: str | None = None,
          sample_shards: str | Path | None = None, until_step: int | None = None, cpu: bool = False,
          **codec_kwargs) -> list[float]:
    """Train (or resume) in `run_dir`; stop at `max_steps`, or earlier with a checkpoint at `until_step`
    (a time slice; the schedule is unchanged). Returns this process's loss at each step it ran.

    Samples are decoded by `codec` (a path or hub id, with `codec_kwargs` subfolder/revision) or,
    when None, by the codec the shards record."""
    config = with_codec_record(config, shards)
    with Run(run_dir, config, config.mixed_precision, cpu) as run:
        set_seed(config.seed)  # the same initial weights on every process
        model = TTSModel(with_duration_fit(config.model, shards))
        stats = load_stats(shards)
        model.latent_norm.mean.copy_(stats["mean"])
        model.latent_norm.std.copy_(stats["std"])
        return fit(run, config, model, shards, sample_shards, codec, until_step, **codec_kwargs)


def with_duration_fit(config: TTSConfig, shards: str | Path) -> TTSConfig:
    """`config` recording the numbers of its duration rule fitted on the training shards
    (`recipes.fit_duration.fit_for_training`); as it is when its rule has none or the shards are too few."""
    if config.rules != "cubetts" or config.duration_rule not in WEIGHTED_RULES:
        return config
    record = fit_for_training(shards)
    return config if record is None else replace(config, duration_weights=record)


def fit(run: Run, config: TTSTrainConfig, model: TTSModel, shards: str | Path,
        sample_shards: str | Path | None = None, codec: str | None = None, until_step: int | None = None,
        monitor: Monitor | None = None, **codec_kwargs) -> list[float]:
    """The training loop of `train` (from scratch) and `recipes.finetune` (from a model), in an open `run`.

    A new run starts from `model`'s weights; a run with checkpoints resumes from the newest (model, EMA,
    optimizer, data position, random states). Only the parameters of `model` that require grad train.
    Returns this process's loss at each step it ran."""
    acc = run.accelerator
    dataset = LatentDataset(shards)
    tokenizer = build_tokenizer(model.config.tokenizer, model.config.vocab)
    resumed = run.resume_state()
    if resumed is None:
        step = epoch = position = 0
    else:
        folder, state, rng = resumed
        load_strict(model, load_file(str(folder / "model" / WEIGHTS_NAME)), str(folder / "model"))
        step, epoch, position = state["step"], state["epoch"], state["position"]
        if monitor is not None and state.get("monitor") is not None:
            monitor.load_state_dict(state["monitor"])
    model.to(run.device)
    ema = EMA(model, config.ema)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  betas=config.betas, weight_decay=config.weight_decay)
    if resumed is not None:
        load_strict(ema.model, load_file(str(folder / "ema" / WEIGHTS_NAME)), str(folder / "ema"))
        optimizer.load_state_dict(state["optimizer"])
    model, optimizer = acc.prepare(model, optimizer)
    sample_codec = None
    record = acc.unwrap_model(model).config.codec
    if run.is_main and config.sample_every and codec is not None:
        sample_codec = open_codec(codec, device=run.device, **codec_kwargs).eval()
        if record is not None:
            check_codec(record, sample_codec)
    elif run.is_main and config.sample_every and record is not None:
        sample_codec = load_codec(record, run.device)
    if sample_codec is not None:
        sample_item = (LatentDataset(sample_shards) if sample_shards else dataset)[0]
        sampler = Synthesizer(ema.model, sample_codec)
        sampler.cuda_graphs = False  # graphs would hold a bf16 copy of the DiT on the GPU for the whole run
    gap_batch = None
    if run.is_main and config.text_gap_every:
        source = LatentDataset(sample_shards) if sample_shards else dataset
        gap_batch = Collate(tokenizer)([source[i] for i in range(min(config.text_gap_items, len(source)))])
        gap_batch = {k: v.to(run.device) for k, v in gap_batch.items()}
    run.open_logs(step, config.max_steps)

    def measure(step: int) -> bool:
        """The text gap on the fixed batch, logged; True when the monitor asks every process to stop."""
        halt = False
        if gap_batch is not None:
            gap = text_gap(acc.unwrap_model(model), gap_batch)
            run.log({f"text_gap/{k}": v for k, v in gap.items()}, step)
            logger.info("step %d: held-out loss %.4f with text, %.4f without, %.4f read backwards: text gap %+.4f, "
                        "order gap %+.4f", step, gap["loss_text"], gap["loss_no_text"], gap["loss_reversed"],
                        gap["text_gap"], gap["order_gap"])
            halt = monitor is not None and monitor(step, gap, acc.unwrap_model(model), ema.model, gap_batch)
        if monitor is not None and run.world > 1:  # the main process decides; every process stops with it
            flag = torch.tensor([float(halt)], device=run.device)
            halt = bool(acc.reduce(flag, reduction="sum").item() > 0)
        return halt

    stop = step >= config.max_steps or (until_step is not None and step >= until_step)
    if monitor is not None and resumed is None and config.text_gap_every:
        stop = measure(0) or stop  # the starting model, before any step
    # Random states last: everything above (building the sampling codec included) may draw from them.
    if resumed is not None and rng is not None:
        set_rng_state(rng)
    else:
        set_seed(config.seed + step, device_specific=True)  # different noise on each process

    # Loss sum, steps and valid frames since the last log, summed over processes at each log. It is
    # checkpointed (already summed), so that a resumed run logs the same averages.
    window = torch.zeros(3, device=run.device)
    if resumed is not None and run.is_main:
        window += state["log_window"].to(run.device)

    def write(folder: Path, log_window: torch.Tensor) -> None:
        acc.unwrap_model(model).save_pretrained(folder / "model")
        ema.model.save_pretrained(folder / "ema")
        torch.save({"optimizer": optimizer.state_dict(), "step": step, "epoch": epoch, "position": position,
                    "log_window": log_window.cpu(), "monitor": monitor.state_dict() if monitor else None},
                   folder / "training.pt")

    losses: list[float] = []
    tick = time.perf_counter()
    collate = Collate(tokenizer)
    max_frames = seconds_to_frames(config.batch_seconds, shard_frame_rate(shards))
    while not stop:
        batches = frame_batches(dataset.lengths, max_frames, config.max_samples, config.seed, epoch, run.rank,
                                run.world)
        for batch in make_loader(dataset, batches[position:], collate, config.workers):
            batch = {k: v.to(run.device, non_blocking=True) for k, v in batch.items()}
            set_lr(optimizer, config.lr * warmup_cosine(step, config.warmup_steps, config.max_steps))
            loss, _ = model(**batch)
            acc.backward(loss)
            grad_norm = acc.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step, position = step + 1, position + 1
            ema.update(acc.unwrap_model(model), step)
            losses.append(loss.item())
            window += torch.stack([loss.detach().float(), torch.ones((), device=run.device),
                                   batch["mask"].sum().float()])
            stop = step >= config.max_steps or step == until_step or run.stop_requested()
            if step % config.log_every == 0 or step == config.max_steps:
                total = acc.reduce(window, reduction="sum")
                elapsed = time.perf_counter() - tick
                run.log({"train/loss": (total[0] / total[1]).item(), "train/lr": optimizer.param_groups[0]["lr"],
                         "train/grad_norm": float(grad_norm), "train/frames_per_second": total[2].item() / elapsed,
                         "train/epoch": epoch}, step)
                window.zero_()
                tick = time.perf_counter()
            if config.text_gap_every and step % config.text_gap_every == 0:
                stop = measure(step) or stop
            if sample_codec is not None and step % config.sample_every == 0:
                log_sample(run, sampler, sample_item, config.sample_nfe, step)
            if step % config.checkpoint_every == 0 or stop:
                pending = acc.reduce(window.clone(), reduction="sum")  # a collective: every process
                run.save(step, lambda folder: write(folder, pending), config.keep_checkpoints)
            if stop:
                break
        else:
            epoch, position = epoch + 1, 0
    return losses


def main(argv: list[str] | None = None) -> None:
    p = run_parser(__doc__, PRESETS)
    p.add_argument("--shards", required=True, help="latent shards from recipes/extract_latents.py")
    p.add_argument("--codec", default=None, help="codec for TensorBoard audio samples (folder, .ckpt, hub id or "
                                                 "griffin-lim; default: the codec the shards record)")
    p.add_argument("--codec-subfolder", default=None, help="hub subfolder of the codec, e.g. WavCube")
    p.add_argument("--sample-shards", default=None, help="shards to draw the sample utterance from (held-out)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = resolve_config(TTSTrainConfig, args.config, PRESETS, Path(args.run_dir))
    kwargs = {"subfolder": args.codec_subfolder} if args.codec_subfolder else {}
    train(config, args.shards, args.run_dir, args.codec, args.sample_shards, args.until_step, args.cpu, **kwargs)


if __name__ == "__main__":
    main()
