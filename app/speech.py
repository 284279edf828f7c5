"""A request to speak, wherever it enters (the page, Gradio's API, the OpenAI-compatible API, the CLI): its
inputs checked once, then prepared into a `tts` Job by `Synthesizer.prepare`.

Every refusal is an `InputError` naming the input (`field`) with a message a user can act on; each entry
point words it its own way (the page prefixes its section, the OpenAI API returns it as JSON with the field
as `param`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codec.audio import AUDIO_SUFFIXES, AudioError, audio_duration
from tts import Synthesizer, SynthesisOptions, TextError
from tts.asr import ASRUnavailable
from tts.options import OptionError
from tts.rules import Reference
from tts.synthesizer import Job, Progress

# Uploads longer than this are refused before they are decoded: a reference needs at most 15 s (F5-TTS's
# models: 12 s; longer ones are cut), and decoding hours of compressed audio would hold the queue.
MAX_REFERENCE_SECONDS = 60.0
# A streamed request's first piece is cut at clauses to about this much speech, so that its first audio comes
# once that much is generated rather than a whole chunk of up to 15 s (`SynthesisOptions.first_chunk_seconds`).
FIRST_PIECE_SECONDS = 2.0


class InputError(ValueError):
    """Input that cannot be spoken: `field` is the input's name ("text", "reference", "reference_text", "voice",
    or a SynthesisOptions field); the message is shown to the user as it is."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Upload:
    """A reference clip sent with the request, with its transcript (None: the ASR writes one)."""

    path: Path
    transcript: str | None = None


def type_name(value: object) -> str:
    """How a JSON value's type is named to a user: "a list", "an object", "a number"..."""
    names = {list: "a list", tuple: "a list", dict: "an object", bool: "true/false", int: "a number",
             float: "a number", type(None): "nothing (null)"}
    return names.get(type(value), type(value).__name__)


def checked_text(value: object, field: str = "text") -> str:
    """The text to speak, which must be a string (a list or an object is refused, not turned into its repr).
    Its content and length are checked by `Synthesizer.prepare`."""
    if not isinstance(value, str):
        raise InputError(f"{field} must be a string, got {type_name(value)}", field)
    return value


def checked_upload(reference: object, transcript: object = None) -> Upload:
    """An uploaded reference file, once its type and its duration (read from the header) are acceptable."""
    if not reference:
        raise InputError("upload or record a clip of the voice to clone (3 to 12 s of speech)", "reference")
    if not isinstance(reference, (str, Path)):
        raise InputError(f"reference must be an uploaded audio file, got {type_name(reference)}", "reference")
    if transcript is not None and not isinstance(transcript, str):
        raise InputError(f"reference_text must be a string, got {type_name(transcript)}", "reference_text")
    path = Path(reference)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise InputError(f"wrong file type {path.suffix or '(none)'!r} ({path.name}); use an audio file: "
                         f"{', '.join(AUDIO_SUFFIXES)}", "reference")
    try:
        seconds = audio_duration(path, at_most=MAX_REFERENCE_SECONDS)
    except AudioError as err:
        raise InputError(str(err).replace(str(path), path.name), "reference") from None
    if seconds > MAX_REFERENCE_SECONDS:
        raise InputError(f"the file is {seconds:.0f} s long; the limit is {MAX_REFERENCE_SECONDS:.0f} s. Upload 3 to "
                         f"12 s of speech.", "reference")
    return Upload(path, (transcript or "").strip() or None)


def checked_options(defaults: SynthesisOptions, streamed: bool = False, **values) -> SynthesisOptions:
    """The request's settings (None: the default), checked by SynthesisOptions; a `streamed` request's first
    piece is short (`FIRST_PIECE_SECONDS`) unless the defaults say otherwise."""
    try:
        options = defaults.replace(**{name: value for name, value in values.items() if value is not None})
    except OptionError as err:
        raise InputError(str(err), err.field) from None
    if streamed and options.first_chunk_seconds is None:
        options = options.replace(first_chunk_seconds=FIRST_PIECE_SECONDS)
    return options


def prepare(synthesizer: Synthesizer, texts: Sequence[str], speaker: Upload | Reference, options: SynthesisOptions,
            progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> Job:
    """Check the texts against the model and prepare the speaker's reference → a Job, or InputError.

    `speaker` is an upload (read, checked, transcribed when it has no transcript, encoded) or a saved
    voice's prepared reference (`VoiceStore.reference`).
    """
    try:
        if isinstance(speaker, Upload):
            return synthesizer.prepare(texts, speaker.path, ref_text=speaker.transcript, options=options,
                                       progress=progress, cancelled=cancelled)
        return synthesizer.prepare(texts, speaker, options=options, progress=progress, cancelled=cancelled)
    except TextError as err:
        if err.field == "text":
            raise InputError(str(err), "text") from None
        raise InputError(str(err).replace("ref_text", "the reference transcript"), "reference") from None
    except AudioError as err:
        message = str(err)
        if isinstance(speaker, Upload):  # the synthesizer names its file; the user knows it by its name
            message = message.replace(str(speaker.path), speaker.path.name)
        raise InputError(message, "reference") from None
    except ASRUnavailable as err:
        raise InputError(f"none was given, and {err}", "reference_text") from None
