"""Dialogues: a script with speaker tags, each turn spoken in its saved voice, joined with pauses.

    [alice] Hello there. [bob] Hi! How are you? [alice] Fine, thanks.

A tag is a saved voice's name in square brackets (any case); the script starts with one. Each turn is one
request's text (its own job, with the limits of any text), all turns with the same seed (the first turn's
when none is given, so that one seed repeats the whole dialogue). The turns are joined with
`PAUSE_SECONDS` of silence between them, into one waveform or one stream.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from tts import SynthesisOptions
from tts.synthesizer import Job

from .service import Service
from .speech import InputError, checked_text
from .voices import UnknownVoice, Voice, VoiceStore

# Between two turns: a little longer than the ~0.2 s gap of conversational turn-taking, which read speech
# (each turn already ends in its own trimmed-off silence) makes sound rushed.
PAUSE_SECONDS = 0.3
TAG = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class Turn:
    voice: Voice
    text: str


def parse(script: object, voices: VoiceStore) -> list[Turn]:
    """The script's turns, each with its saved voice; InputError for a script without tags, text before the
    first tag, an empty turn, or an unknown speaker (the message lists the voices)."""
    text = checked_text(script, "text").strip()
    parts = TAG.split(text)  # [before, name1, text1, name2, text2, ...]
    if len(parts) == 1:
        raise InputError("a dialogue needs speaker tags: [alice] Hello there. [bob] Hi!", "text")
    if parts[0].strip():
        raise InputError(f"a dialogue starts with a speaker tag, e.g. [alice]; it starts with {parts[0].strip()[:30]!r}",
                         "text")
    turns: list[Turn] = []
    for i in range(1, len(parts), 2):
        name, said = parts[i].strip(), parts[i + 1].strip()
        try:
            voice = voices.get(name)
        except UnknownVoice as err:
            raise InputError(f"unknown speaker [{name}] in turn {len(turns) + 1}; the voices are: "
                             f"{', '.join(err.names)}", "voice") from None
        if not said:
            raise InputError(f"turn {len(turns) + 1} ([{name}]) has no text", "text")
        turns.append(Turn(voice, said))
    return turns


def prepare(service: Service, turns: list[Turn], options: SynthesisOptions,
            cancelled: Callable[[], bool] | None = None) -> list[Job]:
    """One job per turn, checked one by one (an error names its turn)."""
    synthesizer = service.ready()
    jobs: list[Job] = []
    for i, turn in enumerate(turns):
        opts = options if options.seed is not None or not jobs else options.replace(seed=jobs[0].seed)
        try:
            reference = service.voices.reference(turn.voice, synthesizer)
            jobs.append(service.prepare([turn.text], reference, opts, cancelled=cancelled))
        except InputError as err:
            raise InputError(f"turn {i + 1} ([{turn.voice.name}]): {err}", err.field) from None
    return jobs


def pause(sample_rate: int) -> torch.Tensor:
    return torch.zeros(round(PAUSE_SECONDS * sample_rate))


def run(service: Service, jobs: list[Job]) -> torch.Tensor:
    """All turns, generated together, joined → `(T,)`."""
    assert service.batcher is not None
    wavs = [wavs[0] for wavs in service.batcher.run_all(jobs)]
    gap = pause(service.sample_rate)
    return torch.cat([part for i, wav in enumerate(wavs) for part in ((gap, wav) if i else (wav,))])


def stream(service: Service, jobs: list[Job]) -> Iterator[torch.Tensor]:
    """The turns in order, piece by piece, with the pause before each turn after the first."""
    for i, job in enumerate(jobs):
        if i:
            yield pause(service.sample_rate)
        yield from service.stream(job)
