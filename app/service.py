"""What serves requests: the loaded models (or the reason there are none), the batcher they share, and the
saved voices. The page, Gradio's API and the OpenAI-compatible API all speak through one `Service`, so a
request from any of them joins the same batches and sees the same voices.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from tts import Synthesizer, SynthesisOptions
from tts.batcher import Batcher
from tts.rules import Reference
from tts.synthesizer import Job, Progress

from . import speech
from .models import ModelStatus
from .speech import Upload
from .voices import VoiceStore


class NotReady(RuntimeError):
    """The models are not loaded; the message says what is missing and how to get it."""


@dataclass
class Service:
    """The models, their batcher and the voice store, shared by every way in."""

    synthesizer: Synthesizer | None
    status: ModelStatus
    voices: VoiceStore
    batcher: Batcher | None
    defaults: SynthesisOptions
    concurrency: int = 1

    @classmethod
    def create(cls, synthesizer: Synthesizer | None, status: ModelStatus, voices: VoiceStore | None = None,
               concurrency: int = 1, options: SynthesisOptions | None = None) -> "Service":
        """`concurrency` requests are generated together at most; `options` are the defaults when there is no
        synthesizer (with one, its own)."""
        batcher = Batcher(synthesizer, max_jobs=concurrency) if synthesizer is not None else None
        defaults = synthesizer.options if synthesizer is not None else options or SynthesisOptions()
        return cls(synthesizer, status, voices or VoiceStore(), batcher, defaults, concurrency)

    def ready(self) -> Synthesizer:
        if self.synthesizer is None:
            raise NotReady(f"The models are not loaded: {self.status.problem}")
        return self.synthesizer

    def speaker(self, voice: object) -> Reference:
        """A saved voice's reference, prepared for the loaded model (UnknownVoice when there is none)."""
        return self.voices.reference(self.voices.get(voice), self.ready())

    def prepare(self, texts: Sequence[str], speaker: Upload | Reference, options: SynthesisOptions,
                progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> Job:
        return speech.prepare(self.ready(), texts, speaker, options, progress, cancelled)

    def run(self, job: Job) -> list[torch.Tensor]:
        """The job's waveforms, generated with whatever else waits (`Cancelled` when its client went away)."""
        assert self.batcher is not None  # a job exists only where the models are loaded
        return self.batcher.run(job)

    def stream(self, job: Job) -> Iterator[torch.Tensor]:
        assert self.batcher is not None
        return self.batcher.stream(job)

    @property
    def sample_rate(self) -> int:
        return self.ready().sample_rate
