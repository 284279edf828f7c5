"""Train the WavCube codec: stage 1 on frozen WavLM, then stage 2 end to end (see `codec.semantic`).

    accelerate launch -m recipes.train_codec --config stage1 --manifest data/libritts/train.tsv \
        --run-dir runs/codec-stage1
    accelerate launch -m recipes.train_codec --config stage2 --manifest data/libritts/train.tsv \
        --run-dir runs/codec-stage2 --stage1 runs/codec-stage1

Each step trains the discriminators on the current reconstruction, then the codec on mel,
semantic (and in stage 2 anchoring) and adversarial losses; stage 1 skips the GAN for its first
`mel_only_steps`. Both optimizers are AdamW (lr 1e-4, betas (0.8, 0.9)) with linear warm-up and
cosine decay. Checkpoints hold `codec/` (`WavCube.save_pretrained`, ready for `from_pretrained`)
and `training.pt` (every training module and optimizer); rerunning the command resumes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


import torch
from accelerate.utils import set_seed
from transformers import WavLMModel

from codec.losses import Discriminators
from codec.semantic import CodecTrainingConfig, CodecTrainingModel
from recipes.checkpoint import list_checkpoints, set_rng_state
from recipes.config import resolve_config
from recipes.crops import CropDataset
from recipes.manifest import SKIP_BAD_LINES_HELP, read_manifest
from recipes.run import Run, make_loader, run_parser, set_lr, warmup_cosine
from recipes.sampler import fixed_batches


@dataclass(frozen=True)
class CodecTrainConfig:
    model: CodecTrainingConfig = field(default_factory=CodecTrainingConfig.stage1)
    # Pre-trained WavLM for a new stage-1 run (hub id or local folder); None starts from random weights.
    wavlm: str | None = "microsoft/wavlm-large"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.9)
    warmup_steps: int = 5000
    # Generator updates. The reference's 1M Lightning steps count both optimizers' steps.
    max_steps: int = 500_000
    mel_only_steps: int = 5000  # no GAN before this step (stage 2: 0)
    batch_size: int = 14  # per process (reference: 14 on each of 64 GPUs in stage 1, 8 in stage 2)
    crop_seconds: float = 10.0
    mixed_precision: str = "no"  # the reference trains in float32
    seed: int = 4444
    workers: int = 8
    log_every: int = 50
    audio_every: int = 1000  # input and reconstruction to TensorBoard
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3

    @classmethod
    def stage1(cls) -> "CodecTrainConfig":
        """Reference configs/WavCube-stage1.yaml."""
        return cls()

    @classmethod
    def stage2(cls) -> "CodecTrainConfig":
        """Reference configs/WavCube-stage2.yaml; starts from a stage-1 checkpoint (--stage1)."""
        return cls(model=CodecTrainingConfig.stage2(), wavlm=None, mel_only_steps=0, batch_size=8,
                   checkpoint_every=5000)

    @classmethod
    def tiny(cls, stage: int = 1) -> "CodecTrainConfig":
        """Seconds on a CPU: the tiny codec on half-second crops."""
        return cls(model=CodecTrainingConfig.tiny(stage), wavlm=None, warmup_steps=2, max_steps=4,
                   mel_only_steps=2 if stage == 1 else 0, batch_size=2, crop_seconds=0.5, workers=0, log_every=1,
                   audio_every=2, checkpoint_every=2, keep_checkpoints=2)


PRESETS = {"stage1": CodecTrainConfig.stage1, "stage2": CodecTrainConfig.stage2,
           "tiny-stage1": lambda: CodecTrainConfig.tiny(1), "tiny-stage2": lambda: CodecTrainConfig.tiny(2)}


def _stage1_state(path: Path) -> dict:
    """Training modules of a stage-1 checkpoint: a `step-…` folder, or a run folder (its newest)."""
    if not (path / "training.pt").is_file():
        found = list_checkpoints(path / "checkpoints")
        if not found:
            raise FileNotFoundError(f"{path} is neither a stage-1 checkpoint nor a run folder with checkpoints")
        path = found[-1]
    return torch.load(path / "training.pt", map_location="cpu", weights_only=False)


def train(config: CodecTrainConfig, manifest: str | Path, run_dir: str | Path, stage1: str | Path | None = None,
          until_step: int | None = None, cpu: bool = False, skip_bad_lines: bool = False) -> list[float]:
    """Train (or resume) in `run_dir`; returns this process's generator loss at each step it ran."""
    stage = config.model.stage
    utts = read_manifest(manifest, skip_bad_lines)  # first: bad lines are reported before any model is built
    with Run(run_dir, config, config.mixed_precision, cpu) as run:
        acc = run.accelerator
        set_seed(config.seed)
        gen = CodecTrainingModel(config.model)
        disc = Discriminators(config.model.adversarial)
        resumed = run.resume_state()
        if resumed is not None:
            folder, state, rng = resumed
            gen.load_state_dict(state["generator"])
            disc.load_state_dict(state["discriminators"])
            step, epoch, position = state["step"], state["epoch"], state["position"]
        else:
            step = epoch = position = 0
            if stage == 2:
                if stage1 is None:
                    raise ValueError("stage 2 starts from a stage-1 checkpoint: give --stage1")
                s1 = _stage1_state(Path(stage1))
                gen.start_from_stage1(s1["generator"], str(stage1))
                disc.load_state_dict(s1["discriminators"])
            elif config.wavlm is not None:
                gen.load_wavlm(WavLMModel.from_pretrained(config.wavlm).state_dict())
        gen.to(run.device)
        disc.to(run.device)
        opt_g = torch.optim.AdamW([p for p in gen.parameters() if p.requires_grad], lr=config.lr, betas=config.betas)
        opt_d = torch.optim.AdamW(disc.parameters(), lr=config.lr, betas=config.betas)
        if resumed is not None:
            opt_g.load_state_dict(state["opt_generator"])
            opt_d.load_state_dict(state["opt_discriminators"])
        gen, disc, opt_g, opt_d = acc.prepare(gen, disc, opt_g, opt_d)
        sample_rate = config.model.codec.sample_rate
        dataset = CropDataset([u.path for u in utts], int(config.crop_seconds * sample_rate), sample_rate, config.seed)
        run.open_logs(step, config.max_steps)
        if resumed is not None and rng is not None:
            set_rng_state(rng)
        else:
            set_seed(config.seed + step, device_specific=True)

        def write(folder: Path) -> None:
            acc.unwrap_model(gen).codec.save_pretrained(folder / "codec")
            torch.save({"generator": acc.unwrap_model(gen).state_dict(),
                        "discriminators": acc.unwrap_model(disc).state_dict(),
                        "opt_generator": opt_g.state_dict(), "opt_discriminators": opt_d.state_dict(),
                        "step": step, "epoch": epoch, "position": position}, folder / "training.pt")

        losses: list[float] = []
        tick = time.perf_counter()
        stop = step >= config.max_steps or (until_step is not None and step >= until_step)
        while not stop:
            batches = fixed_batches(len(dataset), config.batch_size, config.seed, epoch, run.rank, run.world)
            for wav in make_loader(dataset, batches[position:], None, config.workers):
                wav = wav.to(run.device, non_blocking=True)  # (B, T)
                lr = config.lr * warmup_cosine(step, config.warmup_steps, config.max_steps)
                set_lr(opt_g, lr)
                set_lr(opt_d, lr)
                loss, parts, wav_hat = gen(wav)
                real = wav[:, : wav_hat.shape[1]]
                if step >= config.mel_only_steps:
                    # Discriminators first, on this reconstruction; then the codec against the updated ones.
                    loss_d, parts_d = disc(real, wav_hat.detach(), True)
                    opt_d.zero_grad(set_to_none=True)
                    acc.backward(loss_d)
                    opt_d.step()
                    loss_adv, parts_adv = disc(real, wav_hat, False)
                    loss = loss + loss_adv
                    parts = {**parts, **parts_d, **parts_adv, "disc_total": loss_d.detach()}
                opt_g.zero_grad(set_to_none=True)
                acc.backward(loss)
                opt_g.step()
                step, position = step + 1, position + 1
                losses.append(loss.item())
                stop = step >= config.max_steps or step == until_step or run.stop_requested()
                if step % config.log_every == 0 or step == config.max_steps:
                    scalars = {f"train/{k}": acc.reduce(v.float(), reduction="mean").item() for k, v in parts.items()}
                    scalars.update({"train/loss": loss.item(), "train/lr": lr,
                                    "train/seconds_per_step": (time.perf_counter() - tick) / config.log_every})
                    run.log(scalars, step)
                    tick = time.perf_counter()
                if step % config.audio_every == 0:
                    run.log_audio("audio/input", real[0], step, sample_rate)
                    run.log_audio("audio/reconstruction", wav_hat[0], step, sample_rate)
                if step % config.checkpoint_every == 0 or stop:
                    run.save(step, write, config.keep_checkpoints)
                if stop:
                    break
            else:
                epoch, position = epoch + 1, 0
        return losses


def main(argv: list[str] | None = None) -> None:
    p = run_parser(__doc__, PRESETS)
    p.add_argument("--manifest", required=True, help="training audio: a manifest from recipes/prepare_data.py")
    p.add_argument("--stage1", default=None, help="stage 2: the stage-1 run folder or checkpoint to start from")
    p.add_argument("--skip-bad-lines", action="store_true", help=SKIP_BAD_LINES_HELP)
    args = p.parse_args(argv)
    config = resolve_config(CodecTrainConfig, args.config, PRESETS, Path(args.run_dir))
    train(config, args.manifest, args.run_dir, args.stage1, args.until_step, args.cpu, args.skip_bad_lines)


if __name__ == "__main__":
    main()
