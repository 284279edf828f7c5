"""What every training recipe shares: Accelerate, the run folder, resuming, checkpoints, TensorBoard, stopping.

A run folder holds `config.json` (the config it was started with; a resume must match it),
`checkpoints/step-…/` (see `recipes.checkpoint`) and `logs/` (TensorBoard). Starting a recipe on a
folder that has checkpoints resumes from the newest. While a run trains, its main process holds
`run.lock` (pid and host): a second start on the folder is refused, naming the holder; a lock left by a
process that died on this host is taken over. SIGTERM (a scheduler preempting the job) or
Ctrl-C makes every process stop after the current step and write a checkpoint; a second Ctrl-C
aborts at once.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from .checkpoint import list_checkpoints, load_training_state, save_checkpoint
from .config import check_config, record_config


LOCK_NAME = "run.lock"


class RunLockedError(RuntimeError):
    """The run folder is held by another training process."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def acquire_lock(run_dir: Path) -> Path:
    """Create `run_dir/run.lock` holding this process's pid and host, atomically.

    Raises RunLockedError naming the holder when a live process (or one on another host, whose
    liveness cannot be checked from here) holds it; a lock of a dead process on this host is taken over.
    """
    path = run_dir / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
            except (OSError, ValueError):  # being written or removed this instant: look again
                time.sleep(0.1)
                continue
            who = f"pid {holder.get('pid')} on {holder.get('host')} (since {holder.get('since')})"
            if holder.get("host") != me["host"]:
                raise RunLockedError(f"{run_dir} is being trained by {who}; if that process is gone, "
                                     f"delete {path}") from None
            if _alive(int(holder.get("pid", -1))):
                raise RunLockedError(f"{run_dir} is being trained by {who}; stop it first, or use "
                                     f"another --run-dir") from None
            print(f"taking over {path}: its holder, {who}, is no longer running", flush=True)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return path
    raise RunLockedError(f"could not take {path}: other processes keep creating it")


def release_lock(path: Path) -> None:
    """Remove the lock if this process holds it."""
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def run_parser(doc: str | None, presets: Collection[str]) -> argparse.ArgumentParser:
    """The flags every training recipe shares: --config, --run-dir, --until-step, --cpu."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help=f"a preset ({', '.join(presets)}) or a JSON/YAML file; "
                                                  f"default: the config of the run being resumed")
    p.add_argument("--run-dir", required=True, help="checkpoints, logs and config of this run; resumed if present")
    p.add_argument("--until-step", type=int, default=None,
                   help="stop with a checkpoint at this step, leaving the schedule unchanged (a time slice)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where CUDA is available")
    return p


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor after `step` updates: linear warm-up, then cosine decay to 0 at `total`.

    transformers' `get_cosine_schedule_with_warmup`, as a function of the step alone: resuming
    needs no scheduler state.
    """
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def make_loader(dataset: Dataset, batches: Sequence[list], collate: Callable | None, workers: int) -> DataLoader:
    """A loader over a precomputed batch plan. It gets its own generator: by default a DataLoader
    draws its worker seed from the global RNG, and a resumed run would then draw at another point."""
    return DataLoader(dataset, batch_sampler=list(batches), collate_fn=collate, num_workers=workers,
                      generator=torch.Generator(), pin_memory=torch.cuda.is_available())


class Run:
    """Accelerate and the run folder. Use as a context manager: it installs the stop signals."""

    def __init__(self, run_dir: str | Path, config: Any, mixed_precision: str, cpu: bool = False):
        use_cpu = cpu or not torch.cuda.is_available()
        self.accelerator = Accelerator(mixed_precision="no" if use_cpu else mixed_precision, cpu=use_cpu)
        self.dir = Path(run_dir)
        self.checkpoints = self.dir / "checkpoints"
        self.writer: SummaryWriter | None = None
        self.bar: tqdm | None = None
        self._stop = False
        self._old_handlers: dict[int, Any] = {}
        self._lock: Path | None = None
        if self.is_main:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lock = acquire_lock(self.dir)
        try:
            if self.is_main:
                record_config(self.dir, config)
            self.barrier()
            check_config(self.dir, config)
        except BaseException:
            self.close()
            raise

    is_main = property(lambda self: self.accelerator.is_main_process)
    rank = property(lambda self: self.accelerator.process_index)
    world = property(lambda self: self.accelerator.num_processes)
    device = property(lambda self: self.accelerator.device)

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()

    def __enter__(self) -> "Run":
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self.close()

    def close(self) -> None:
        """Close the logs and release the run folder."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self._lock is not None:
            release_lock(self._lock)
            self._lock = None

    def _on_signal(self, signum: int, frame) -> None:
        if self._stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._stop = True
        self.accelerator.print(f"signal {signum}: stopping after this step with a checkpoint")

    def stop_requested(self) -> bool:
        """True on every process once any process was signalled."""
        if self.world == 1:
            return self._stop
        flag = torch.tensor([float(self._stop)], device=self.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)

    def resume_state(self) -> tuple[Path, dict, dict | None] | None:
        """`(folder, training state, this process's RNG states)` of the newest checkpoint, or None."""
        found = list_checkpoints(self.checkpoints)
        if not found:
            self.accelerator.print(f"starting a new run in {self.dir}")
            return None
        state, rng = load_training_state(found[-1], self.rank)
        self.accelerator.print(f"resuming {self.dir} from step {state['step']} ({found[-1]})")
        if rng is None:
            self.accelerator.print(f"warning: {found[-1]} has no RNG state for process {self.rank} (was the run "
                                   f"started with another number of processes?); the run goes on, not exactly")
        return found[-1], state, rng

    def open_logs(self, step: int, total: int | None = None) -> None:
        """TensorBoard writer and a progress bar to `total` steps (main process). Events after `step` from an
        interrupted run are dropped."""
        if self.is_main:
            self.writer = SummaryWriter(str(self.dir / "logs"), purge_step=step + 1 if step else None)
            self.bar = tqdm(total=total, initial=step, unit="step", desc="train", dynamic_ncols=True)

    def log(self, scalars: dict[str, float], step: int) -> None:
        """To TensorBoard, and the losses beside the progress bar."""
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, step)
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in scalars.items() if "loss" in k})

    def log_audio(self, tag: str, wav: torch.Tensor, step: int, sample_rate: int) -> None:
        if self.writer is not None:
            self.writer.add_audio(tag, wav.detach().float().cpu().clamp(-1, 1), step, sample_rate)

    def save(self, step: int, write: Callable[[Path], None], keep: int) -> Path:
        """Checkpoint `step`; `write(folder)` runs on the main process."""
        folder = save_checkpoint(self.checkpoints, step, self.rank, self.is_main, self.barrier, write, keep)
        self.accelerator.print(f"step {step}: checkpoint {folder}")
        return folder
