"""The web page and its API: `build_app(synthesizer, status) -> gr.Blocks`, and `clone_voice`, the one
function behind both the page's button and the `/clone_voice` API endpoint.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from codec.audio import AUDIO_SUFFIXES, AudioError, audio_duration
from tts import Synthesizer, SynthesisOptions, TextError
from tts.asr import ASRUnavailable
from tts.options import MAX_NFE, OptionError
from tts.splice import MAX_PAUSE_SECONDS, shorten_pauses
from tts.text import split_sentences

from tts.batcher import Batcher
from .models import ModelStatus

if TYPE_CHECKING:  # imported where used: `import app` works without the app extra (gradio)
    import gradio as gr

logger = logging.getLogger(__name__)

# Uploads longer than this are refused before they are decoded: a reference needs at most 15 s
# (longer ones are cut), and decoding hours of compressed audio would hold the queue.
MAX_REFERENCE_SECONDS = 60.0
# The page's names for the SynthesisOptions fields it sets, as its API names them.
PAGE_NAMES = {"speed": "speed", "nfe": "steps", "cfg": "cfg_strength", "seed": "seed"}
# Generated audio and uploads in Gradio's cache are deleted after a day, checked every hour.
CACHE_CLEANUP = (3600, 86400)

PageProgress = Callable[[float, str], None]  # (fraction done, message), as gr.Progress takes


class InputError(ValueError):
    """User input that cannot be synthesised; its message is shown on the page as it is."""


def clone_voice(synthesizer: Synthesizer, text: str, reference: str | None, reference_text: str | None = None,
                speed: float | None = None, nfe: float | None = None, cfg: float | None = None,
                seed: int | str | None = None, remove_silence: bool = False, *,
                progress: PageProgress | None = None,
                batcher: Batcher | None = None) -> tuple[tuple[int, np.ndarray], int]:
    """Speak `text` in the voice of the `reference` audio file.

    Settings left as None take the synthesizer's defaults (`synthesizer.options`, which also holds
    the text limit `max_chars`) and are checked by `SynthesisOptions`; the text and the reference are
    checked by `Synthesizer.prepare` (the upload's type and length here); an empty `reference_text`
    has the ASR transcribe the reference; a None or empty seed has the synthesizer draw one. Returns
    `((sample_rate, wav: (T,) int16), seed)`, the seed being the one used, so a result can be
    repeated. With a `batcher`, the generation joins whatever other requests wait for the model at
    that moment (the result is the same). Raises `gr.Error` with a specific message for bad input,
    and for any other failure (which is logged with its traceback); the server goes on serving.
    """
    import gradio as gr

    progress = progress or (lambda fraction, desc: None)
    try:
        progress(0.0, "checking the input")
        options = _options(synthesizer.options, speed, nfe, cfg, seed)
        path = _check_reference(reference)
        transcribe = not (reference_text and reference_text.strip())
        progress(0.05, f"checking the text and reading the reference{', transcribing it' if transcribe else ''}")
        try:
            job = synthesizer.prepare(
                [text], path, ref_text=(reference_text or "").strip() or None, options=options,
                progress=lambda done, total: progress(0.1 + 0.8 * done / total, f"spoken {done} of {total} pieces"))
        except (AudioError, TextError) as err:
            if isinstance(err, TextError) and err.field == "text":
                raise InputError(f"Text: {err}") from None
            # The synthesizer's messages name its arguments; the page names its fields.
            message = str(err).replace(str(path), path.name).replace("ref_text", "the reference transcript")
            raise InputError(f"Reference: {message}") from None
        except ASRUnavailable as err:
            raise InputError(f"Reference transcript: none was given, and {err}") from None
        sentences = len(split_sentences(job.texts[0]))
        progress(0.1, f"speaking {sentences} sentence{'s' if sentences > 1 else ''}")
        # With a batcher, requests waiting for the model together share its batches.
        wav = (batcher.run(job) if batcher is not None else synthesizer.generate([job])[0])[0]
        sr = synthesizer.sample_rate
        progress(0.9, "finishing")
        if remove_silence:
            wav = shorten_pauses(wav, sr)
        pcm = (wav.clamp(-1.0, 1.0) * 32767).round().to(torch.int16).numpy()  # what a 16-bit WAV holds
        return (sr, pcm), job.seed
    except InputError as err:
        raise gr.Error(str(err), title="Cannot synthesise this") from None
    except torch.cuda.OutOfMemoryError:
        logger.exception("out of GPU memory")
        raise gr.Error("The GPU ran out of memory: try a shorter text, or try again when the server is less busy.",
                       title="Server busy") from None
    except Exception as err:
        logger.exception("synthesis failed")
        raise gr.Error(f"Synthesis failed: {type(err).__name__}: {err}. Details are in the server log.",
                       title="Error") from None


def _options(defaults: SynthesisOptions, speed, nfe, cfg, seed) -> SynthesisOptions:
    """The request's settings, checked by SynthesisOptions."""
    changes = {name: value for name, value in (("speed", speed), ("nfe", nfe), ("cfg", cfg)) if value is not None}
    changes["seed"] = _seed(seed, defaults.seed)
    try:
        return defaults.replace(**changes)
    except OptionError as err:
        page_name = PAGE_NAMES.get(err.field, err.field)
        where = f" (the {page_name!r} setting)" if page_name != err.field else ""
        raise InputError(f"Settings: {err}{where}") from None


def _seed(seed, default: int | None):
    """The seed typed on the page ("" = the server's default, else random: drawn by the synthesizer) or sent
    by the API; text of digits becomes a number, anything else goes to SynthesisOptions as it is, to be
    refused there."""
    if isinstance(seed, str):
        seed = seed.strip() or None
        if seed is not None and seed.lstrip("-").isascii() and seed.lstrip("-").isdigit():
            seed = int(seed)
    return default if seed is None else seed


def _check_reference(reference: str | None) -> Path:
    """The uploaded file's path, once its type and its duration (read from the header) are acceptable."""
    if not reference:
        raise InputError("Reference: upload or record a clip of the voice to clone (3 to 15 s of speech)")
    path = Path(reference)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise InputError(f"Reference: wrong file type {path.suffix or '(none)'!r} ({path.name}); "
                         f"use an audio file: {', '.join(AUDIO_SUFFIXES)}")
    try:
        seconds = audio_duration(path)
    except AudioError as err:
        raise InputError(f"Reference: {str(err).replace(str(path), path.name)}") from None
    if seconds > MAX_REFERENCE_SECONDS:
        raise InputError(f"Reference: the file is {seconds:.0f} s long; the limit is {MAX_REFERENCE_SECONDS:.0f} s. "
                         f"Upload 3 to 15 s of speech.")
    return path


def unchecked(slider: gr.Slider) -> gr.Slider:
    """The slider, handing its value to the app as sent: the API may send anything (None, NaN, text), and
    SynthesisOptions, not Gradio, refuses it with a message naming the setting and its range. (Set on the
    instance: a gr.Slider subclass would make Gradio write a .pyi file beside this module.)"""
    slider.preprocess = lambda payload: payload
    return slider


def build_app(synthesizer: Synthesizer | None, status: ModelStatus, concurrency: int = 1,
              options: SynthesisOptions | None = None) -> gr.Blocks:
    """The page, with its queue: at most `concurrency` requests run at once, the rest wait in line.
    Requests running at once are generated together in DiT batches (`tts.batcher`), so throughput
    grows with concurrency instead of queueing.

    With `synthesizer=None` (no models loaded) the page still renders and every request is answered
    with `status.problem`. The sliders start at the synthesizer's option defaults (`options` when there
    is no synthesizer).
    """
    import gradio as gr

    defaults = synthesizer.options if synthesizer is not None else options or SynthesisOptions()
    max_chars = defaults.max_chars
    batcher = Batcher(synthesizer, max_jobs=concurrency) if synthesizer is not None else None
    info = {f.name: f.metadata["help"] for f in dataclasses.fields(SynthesisOptions)}

    # Parameters with a default may be left out by API clients: they get the component's starting value
    # (the slider defaults), or None where the component starts empty.
    def synthesize(text: str, reference: str | None, reference_text: str | None = None, speed: float | None = None,
                   steps: float | None = None, cfg_strength: float | None = None, seed: str | None = None,
                   remove_silence: bool = False, progress=gr.Progress()) -> tuple[tuple[int, np.ndarray], str]:
        """Speak `text` in the voice of `reference` (an audio file). An empty `reference_text` is transcribed
        automatically; an empty seed is drawn at random. Returns the speech (WAV at the codec's rate: 24 kHz
        for mel models, 16 kHz for WavCube) and the seed used."""
        if synthesizer is None:
            raise gr.Error(f"The models are not loaded: {status.problem}", title="Not ready")
        audio, seed_used = clone_voice(synthesizer, text, reference, reference_text, speed, steps, cfg_strength, seed,
                                       remove_silence, batcher=batcher,
                                       progress=lambda fraction, desc: progress(fraction, desc=desc))
        return audio, str(seed_used)

    with gr.Blocks(title="cubetts voice cloning", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown("# cubetts: zero-shot voice cloning\nType a text, give a few seconds of someone's voice, "
                    "and hear the text spoken in that voice.")
        gr.Markdown(status.markdown(), elem_id="model-status")
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Text to speak", lines=6, placeholder="Type what the voice should say.",
                                  info=f"Up to {max_chars} characters; long texts are spoken sentence by sentence.")
                reference = gr.Audio(label="Reference voice", sources=["upload", "microphone"], type="filepath",
                                     elem_id="reference")
                reference_text = gr.Textbox(label="Reference transcript (optional)", lines=2,
                                            placeholder="Leave empty to transcribe the reference automatically.")
                with gr.Accordion("Advanced settings", open=False):
                    speed = unchecked(gr.Slider(min(0.5, defaults.speed), max(2.0, defaults.speed),
                                                value=defaults.speed, step=0.05, label="Speed", info=info["speed"]))
                    steps = unchecked(gr.Slider(1, max(64, min(MAX_NFE, 2 * defaults.nfe)), value=defaults.nfe, step=1,
                                                label="Steps", info=info["nfe"]))
                    cfg_strength = unchecked(gr.Slider(0.0, max(5.0, 2 * defaults.cfg), value=defaults.cfg, step=0.1,
                                                       label="CFG strength", info=info["cfg"]))
                    # A textbox, not gr.Number: an empty gr.Number is sent as 0, and empty must mean random.
                    seed = gr.Textbox("" if defaults.seed is None else str(defaults.seed), label="Seed",
                                      placeholder="random", info=info["seed"] + "; empty draws one at random")
                    remove_silence = gr.Checkbox(False, label="Remove silences",
                                                 info=f"shorten pauses in the speech to at most {MAX_PAUSE_SECONDS} s")
                button = gr.Button("Synthesize", variant="primary")
            with gr.Column():
                output = gr.Audio(label="Synthesized speech", type="numpy", interactive=False,
                                  buttons=["download"], elem_id="output")
                seed_used = gr.Textbox(label="Seed used", interactive=False,
                                       info="type it into the Seed setting to get the same audio again")
        button.click(synthesize, [text, reference, reference_text, speed, steps, cfg_strength, seed, remove_silence],
                     [output, seed_used], api_name="clone_voice")
    demo.queue(default_concurrency_limit=concurrency)
    return demo
