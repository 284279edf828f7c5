"""Training checkpoints: `run_dir/checkpoints/step-00001000/`, each complete or absent.

A checkpoint is written into a hidden temporary folder and renamed into place only once every
process has written its part, so a run killed while saving leaves the previous checkpoint as the
latest. It holds what the recipe exports (e.g. `model/`, `ema/`, `codec/`, loadable with
`from_pretrained`), `training.pt` (optimizer states, step, data position), and `rng-<rank>.pt`,
each process's random states, which make a resumed run repeat an uninterrupted one exactly.
"""
from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

_STEP_DIR = re.compile(r"^step-(\d+)$")


def step_dir(checkpoints: Path, step: int) -> Path:
    return checkpoints / f"step-{step:08d}"


def list_checkpoints(checkpoints: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in checkpoints.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(checkpoints: Path, step: int, rank: int, is_main: bool, barrier: Callable[[], None],
                    write: Callable[[Path], None], keep: int) -> Path:
    """Write checkpoint `step` from every process; `write(folder)` (main process only) writes the models
    and `training.pt`. Afterwards only the newest `keep` checkpoints remain. Returns the folder."""
    final = step_dir(checkpoints, step)
    tmp = checkpoints / f".{final.name}.tmp"
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)  # left over from a run killed while saving
        tmp.mkdir(parents=True)
    barrier()
    torch.save(rng_state(), tmp / f"rng-{rank}.pt")
    if is_main:
        write(tmp)
    barrier()
    if is_main:
        if final.exists():  # the same step saved before a resume: the state is identical
            shutil.rmtree(final)
        tmp.rename(final)
        for old in list_checkpoints(checkpoints)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def load_training_state(folder: Path, rank: int) -> tuple[dict, dict | None]:
    """`(training.pt contents, this process's RNG states or None)` of one checkpoint (our own files)."""
    state = torch.load(folder / "training.pt", map_location="cpu", weights_only=False)
    rng_file = folder / f"rng-{rank}.pt"
    rng = torch.load(rng_file, map_location="cpu", weights_only=False) if rng_file.is_file() else None
    return state, rng
