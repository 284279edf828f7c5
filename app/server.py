"""The requests of the page and of Gradio's API: `clone_voice` (the `/clone_voice` endpoint: the whole audio
at once), `speak_streamed` (the page's button: audio that plays while it is generated) and `save_voice`;
`serve` starts the page with the OpenAI-compatible API beside it (app/openai_api.py).

Each request is checked once where it enters (app/speech.py), prepared into jobs, and generated through the
service's batcher; a client that cancels or disconnects stops its work (app/cancel.py).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
import torch

from tts.splice import shorten_pauses
from tts.rules import Reference
from tts.synthesizer import Cancelled, Job
from tts.text import split_sentences

from . import dialogue
from .cancel import gradio_gone, run_cancellable
from .encoding import encode, pcm16
from .service import NotReady, Service
from .speech import InputError, Upload, checked_options, checked_text, checked_upload
from .voices import DIALOGUE

logger = logging.getLogger(__name__)

# The page's names for the SynthesisOptions fields it sets, as its API names them.
PAGE_NAMES = {"speed": "speed", "nfe": "steps", "cfg": "cfg_strength", "seed": "seed"}
# How the page heads a message about each input.
SECTIONS = {"text": "Text", "input": "Text", "reference": "Reference", "reference_text": "Reference transcript",
            "voice": "Voice", "name": "Voice name"}
PageProgress = Callable[[float, str], None]  # (fraction done, message), as gr.Progress takes


@dataclass(frozen=True)
class PageRequest:
    """A checked request of the page or Gradio's API: its jobs (one, or one per dialogue turn)."""

    jobs: list[Job]
    is_dialogue: bool
    remove_silence: bool

    @property
    def seed(self) -> int:
        return self.jobs[0].seed


def page_request(service: Service, text: object, reference: object = None, reference_text: object = None,
                 speed=None, nfe=None, cfg=None, seed=None, remove_silence: object = False, voice: object = None, *,
                 progress: PageProgress | None = None, cancelled: Callable[[], bool] | None = None,
                 streamed: bool = False) -> PageRequest:
    """Check every input and prepare the jobs (a `streamed` request's with a short first piece). `voice`: empty → the uploaded `reference` (and its transcript,
    empty: the ASR writes one); a saved voice's name → that voice; "dialogue" → `text` is a script with speaker
    tags. Settings left as None take the defaults. Raises InputError or NotReady."""
    progress = progress or (lambda fraction, desc: None)
    progress(0.0, "checking the input")
    text = checked_text(text)
    options = checked_options(service.defaults, streamed, speed=speed, nfe=nfe, cfg=cfg,
                              seed=_seed(seed, service.defaults.seed))
    if not isinstance(remove_silence, bool):
        raise InputError(f"remove_silence must be true or false, got {remove_silence!r}", "remove_silence")
    name = voice.strip().lower() if isinstance(voice, str) else voice
    if name == DIALOGUE:
        progress(0.05, "reading the dialogue")
        jobs = dialogue.prepare(service, dialogue.parse(text, service.voices), options, cancelled)
        progress(0.1, f"speaking {len(jobs)} turns")
        return PageRequest(jobs, True, remove_silence)
    speaker: Upload | Reference
    if name:
        progress(0.05, f"checking the text, with the voice {name!r}")
        speaker = service.speaker(name)
    else:
        speaker = checked_upload(reference, reference_text)
        transcribe = speaker.transcript is None
        progress(0.05, f"checking the text and reading the reference{', transcribing it' if transcribe else ''}")
    job = service.prepare([text], speaker, options, cancelled=cancelled, progress=lambda done, total: progress(
        0.1 + 0.8 * done / total, f"spoken {done} of {total} pieces"))
    sentences = len(split_sentences(job.texts[0]))
    progress(0.1, f"speaking {sentences} sentence{'s' if sentences > 1 else ''}")
    return PageRequest([job], False, remove_silence)


def clone_voice(service: Service, text: object, reference: object = None, reference_text: object = None,
                speed=None, nfe=None, cfg=None, seed=None, remove_silence: object = False, voice: object = None, *,
                progress: PageProgress | None = None,
                cancelled: Callable[[], bool] | None = None) -> tuple[tuple[int, np.ndarray], int]:
    """Speak `text` in the voice of the `reference` audio file (or a saved `voice`, or as a dialogue), the
    whole audio at once, generated in a batch with whatever other requests wait for the model.

    Returns `((sample_rate, wav: (T,) int16), seed)`, the seed being the one used, so a result can be
    repeated. Raises `gr.Error` with a specific message for bad input, `Cancelled` when `cancelled()` turns
    true, and `gr.Error` for any other failure (logged with its traceback); the server goes on serving.
    """
    with _answered(service):
        request = page_request(service, text, reference, reference_text, speed, nfe, cfg, seed, remove_silence,
                               voice, progress=progress, cancelled=cancelled)
        if request.is_dialogue:
            wav = dialogue.run(service, request.jobs)
        else:
            wav = service.run(request.jobs[0])[0]
        if progress is not None:
            progress(0.9, "finishing")
        if request.remove_silence:
            wav = shorten_pauses(wav, service.sample_rate)
        return (service.sample_rate, pcm16(wav)), request.seed


class _answered:
    """Turns every failure of a page request into `gr.Error` with a specific message (`Cancelled` passes)."""

    def __init__(self, service: Service):
        self.service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, err, tb) -> None:
        import gradio as gr

        if err is None or isinstance(err, (Cancelled, gr.Error)) or not isinstance(err, Exception):
            return
        if isinstance(err, NotReady):
            raise gr.Error(str(err), title="Not ready") from None
        if isinstance(err, InputError):
            raise gr.Error(page_message(err), title="Cannot synthesise this") from None
        if isinstance(err, torch.cuda.OutOfMemoryError):
            logger.error("out of GPU memory", exc_info=err)
            raise gr.Error("The GPU ran out of memory: try a shorter text, or try again when the server is less "
                           "busy.", title="Server busy") from None
        logger.error("synthesis failed", exc_info=err)
        raise gr.Error(f"Synthesis failed: {type(err).__name__}: {err}. Details are in the server log.",
                       title="Error") from None


def page_message(err: InputError) -> str:
    """An input error as the page words it: headed by the section it is about."""
    if err.field in SECTIONS:
        return f"{SECTIONS[err.field]}: {err}"
    page_name = PAGE_NAMES.get(err.field, err.field)
    return f"Settings: {err}" + (f" (the {page_name!r} setting)" if page_name != err.field else "")


def _seed(seed, default: int | None):
    """The seed typed on the page ("" = the server's default, else random: drawn by the synthesizer) or sent
    by the API; text of digits becomes a number, anything else goes to SynthesisOptions as it is, to be
    refused there."""
    if isinstance(seed, str):
        seed = seed.strip() or None
        if seed is not None and seed.lstrip("-").isascii() and seed.lstrip("-").isdigit():
            seed = int(seed)
    return default if seed is None else seed


async def clone_voice_cancellable(service: Service, *args, progress: PageProgress | None = None):
    """`clone_voice` for a Gradio handler: stops when Gradio cancels the handler or its client disconnects."""
    cancel = threading.Event()
    return await run_cancellable(lambda: clone_voice(service, *args, progress=progress, cancelled=cancel.is_set),
                                 cancel, gradio_gone())


async def speak_streamed(service: Service, *args, progress: PageProgress | None = None,
                         streaming: bool = True) -> AsyncIterator[tuple]:
    """The page's button: yields `(audio piece as WAV bytes, None, seed)` as each piece is generated (with
    `streaming` False, only at the end), then `(None, (sample_rate, whole int16 wav), seed)` for the download.
    Stops when its client cancels or disconnects."""
    import gradio as gr

    cancel, gone = threading.Event(), gradio_gone()
    try:
        with _answered(service):
            request = await run_cancellable(
                lambda: page_request(service, *args, progress=progress, cancelled=cancel.is_set, streamed=streaming),
                cancel, gone)
            pieces = (dialogue.stream(service, request.jobs) if request.is_dialogue
                      else service.stream(request.jobs[0]))
            sr, done = service.sample_rate, []
            while (piece := await run_cancellable(lambda: next(pieces, None), cancel, gone)) is not None:
                if request.remove_silence:
                    piece = shorten_pauses(piece, sr)
                done.append(piece)
                if streaming:
                    yield encode(piece, sr, "wav"), gr.skip(), str(request.seed)
            whole = torch.cat(done) if done else torch.zeros(0)
            yield (None if streaming else (sr, pcm16(whole))), (sr, pcm16(whole)), str(request.seed)
    except Cancelled:
        logger.info("a page request was cancelled by its client")
    finally:
        cancel.set()


def save_voice(service: Service, name: object, reference: object, reference_text: object = None,
               force: bool = False) -> str:
    """Save the uploaded clip as a voice → a confirmation; gr.Error for a bad name, a duplicate, a bad clip."""
    with _answered(service):
        voice = service.voices.add(name, reference, reference_text, service.ready(), force=force)
        return f"Saved the voice {voice.name!r}: choose it under Voice, or send voice={voice.name!r} to the API."
