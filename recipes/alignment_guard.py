"""The alignment guard: is the model reading the text yet, and has it gone too long without?

A model that never learns to align text and speech only continues its prompt: its output babbles, however
low the training loss goes. Users of F5-TTS found that out by listening after days of training (its issues
#565, #704); a measurement says it within a few hundred steps.

The measurement: on a fixed held-out batch, each clip's loss with its transcript read backwards minus with its
transcript as it is (`item_order_gaps`, under the draws of `recipes.train_tts.text_gap`). Backwards, the text has
the same tokens and length, so only a model that aligns them with the speech, in order, does better with the
right order; `order_score` is how consistently it does (the gaps' mean over their standard error). The text gap
(loss without any text minus with it) is logged beside it but does not decide: a prompt with no text at all is a
case training never shows (the text is dropped only with the prompt), and early in a run the text gap is as large
for transcripts shifted against their audio as for the right ones (+0.51 and +0.45 at step 10 on the tests' tone
corpus, where the order score separates them from step 20 on: +0.8 against +4.4). Another clip's transcript is
no test either:
it differs in length, so a model that has learnt only the speaking rate does better with the clip's own.

`AlignmentGuard.update(step, gaps)` gives each measurement a verdict and, once the score has stayed low (on
average) for `patience` steps, the warning with what to try. Its state is a few numbers, checkpointed with the
run, so that a resumed run judges as an uninterrupted one.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from recipes.train_tts import gap_draws, reversed_text
from tts.model import TTSModel

USES_TEXT = "uses the text"
NOT_YET = "not yet: the output will babble"

ADVICE = (
    "What to try: (1) check the transcripts: each must say exactly what its clip says (a shifted or shuffled "
    "metadata.csv looks just like this; listen to a few clips while reading their lines); (2) more data per "
    "voice: a model learns to align from many sentences of a voice, not a few; (3) a lower learning rate "
    "(--config with a smaller \"lr\") if the loss jumped at the start, which can wipe out what the model knew; "
    "(4) the text layout: a model should be fine-tuned with the layout it was trained with "
    "(model.dit.text_layout: F5-TTS checkpoints need \"filler\"), and new characters need the text side to train "
    "(do not freeze it)."
)


@dataclass(frozen=True)
class Verdict:
    step: int
    score: float  # `order_score` of the measurement
    uses_text: bool
    not_aligned: bool  # the mean score of the last `patience` steps is at or below the guard's `flag_at`
    message: str  # one line for the console, followed by the warning when the run is flagged at this step

    @property
    def label(self) -> str:
        return USES_TEXT if self.uses_text else NOT_YET


@torch.no_grad()
def item_order_gaps(model: TTSModel, batch: dict[str, torch.Tensor], seed: int = 0) -> list[float]:
    """Per clip of `batch` (a `Collate` output): its loss with its transcript read backwards minus with its
    transcript, the prompt kept, each clip alone, under `text_gap`'s fixed draws."""
    latent, mask, text = batch["latent"], batch["mask"], batch["text"]
    span, time, noise = gap_draws(model, batch, seed)
    backwards = reversed_text(text)
    keep = torch.zeros(1, dtype=torch.bool, device=latent.device)
    was_training = model.training
    model.eval()
    gaps = []
    for i, n in enumerate(mask.sum(1).tolist()):
        one = (latent[i:i + 1, :n], mask[i:i + 1, :n])  # (1, n, D), (1, n)
        draws = (span[i:i + 1, :n], time[i:i + 1], noise[i:i + 1, :n])
        own, _ = model(*one, text[i:i + 1], *draws, drop_audio=keep, drop_text=keep)
        wrong, _ = model(*one, backwards[i:i + 1], *draws, drop_audio=keep, drop_text=keep)
        gaps.append(wrong.item() - own.item())
    model.train(was_training)
    return gaps


MAX_SCORE = 100.0  # every clip gaining alike (no spread) is as clear as it gets


def order_score(gaps: Sequence[float]) -> float:
    """How consistently the clips' transcripts beat themselves read backwards: the gaps' mean over its standard
    error (a t statistic), 0 when nothing differs, capped at ±MAX_SCORE; one clip gives its gap's sign."""
    n = len(gaps)
    mean = sum(gaps) / n
    spread = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (n - 1)) / math.sqrt(n) if n > 1 else 0.0
    if spread == 0.0:
        return 0.0 if mean == 0.0 else math.copysign(MAX_SCORE, mean)
    return max(-MAX_SCORE, min(MAX_SCORE, mean / spread))


class AlignmentGuard:
    """Judges a run by its order scores, measured every few steps on the same held-out batch.

    Each measurement's verdict: the model uses the text when the score is above `uses_above` (2: the transcripts
    in order help by two standard errors). The run is flagged when it has trained `patience` steps or more
    and the mean score of the measurements in the last `patience` steps is at or below `flag_at` (1: no sign of
    the text helping; a mean, because single measurements swing). Between the two a run is "not yet" but not
    flagged: it reads the text a little, which a small model on a few voices can stay at for long (eval/RESULTS.md).
    The measurement before the first step is not counted (a fresh DiT reads nothing). Flagged once; the flag
    clears when the mean rises above `flag_at`.
    """

    def __init__(self, patience: int, flag_at: float = 1.0, uses_above: float = 2.0):
        if patience < 1:
            raise ValueError(f"patience must be at least one step, got {patience}")
        if flag_at > uses_above:
            raise ValueError(f"flag_at ({flag_at}) must not be above uses_above ({uses_above})")
        self.patience = patience
        self.flag_at, self.uses_above = flag_at, uses_above
        self.history: list[tuple[int, float]] = []  # (step, score) of the measurements in the last `patience` steps
        self.flagged = False

    def update(self, step: int, gaps: Sequence[float]) -> Verdict:
        """`gaps`: `item_order_gaps` of this step's model."""
        score = order_score(gaps)
        uses = score > self.uses_above
        if step > 0:
            self.history = [(s, g) for s, g in self.history if s > step - self.patience] + [(step, score)]
        not_aligned = step >= self.patience and self._mean() <= self.flag_at
        newly, self.flagged = not_aligned and not self.flagged, not_aligned
        mean_gap = sum(gaps) / len(gaps)
        line = (f"step {step}: transcripts read backwards: {mean_gap:+.4f} loss, score {score:+.1f}: "
                f"{USES_TEXT if uses else NOT_YET}")
        if newly:
            line += "\n" + self.warning(step)
        return Verdict(step, score, uses, not_aligned, line)

    def _mean(self) -> float:
        return sum(g for _, g in self.history) / len(self.history) if self.history else 0.0

    def warning(self, step: int) -> str:
        return (f"WARNING at step {step}: the model is not using the text: over the last {self.patience} steps its "
                f"held-out clips were predicted no better from their transcripts than from them read backwards (mean score "
                f"{self._mean():+.1f}, at or below {self.flag_at:g}). Training on like this will not make it speak "
                f"your sentences. {ADVICE}")

    def state_dict(self) -> dict:
        return {"history": [list(h) for h in self.history], "flagged": self.flagged}

    def load_state_dict(self, state: dict) -> None:
        self.history = [(int(s), float(g)) for s, g in state["history"]]
        self.flagged = bool(state["flagged"])
