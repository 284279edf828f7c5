"""The web page and its Gradio API: `build_app(...) -> gr.Blocks`; `serve(service, ...)` starts it with the
OpenAI-compatible API (app/openai_api.py) and the raw-call checks (app/raw_calls.py) in the same server.

Gradio endpoints: `/clone_voice` (the whole audio at once; `gradio_client`), `/save_voice`, and the page's
button (`/speak`, undocumented: audio streamed to the page's player while it is generated).
"""
from __future__ import annotations

import dataclasses
import shutil
from typing import TYPE_CHECKING

import numpy as np

from tts import Synthesizer, SynthesisOptions
from tts.options import MAX_NFE
from tts.splice import MAX_PAUSE_SECONDS

from . import server
from .dialogue import PAUSE_SECONDS
from .models import ModelStatus
from .service import Service
from .voices import DIALOGUE, VoiceStore

if TYPE_CHECKING:  # imported where used: `import app` works without the app extra (gradio)
    import gradio as gr

# Generated audio and uploads in Gradio's cache are deleted after a day, checked every hour.
CACHE_CLEANUP = (3600, 86400)
# A reference needs at most 15 s (longer ones are cut); 20 MB holds minutes of 16-bit WAV.
MAX_UPLOAD = "20mb"
UPLOAD = ""  # the Voice choice that means "the clip uploaded below"


def unchecked(component):
    """The component, handing its value to the app as sent: the API may send anything (None, NaN, a list), and
    the app's own checks (app/speech.py, SynthesisOptions), not Gradio, refuse it with a message naming the
    input. (Set on the instance: a subclass would make Gradio write a .pyi file beside this module.)"""
    component.preprocess = lambda payload: payload
    return component


def voice_choices(voices: VoiceStore) -> list[tuple[str, str]]:
    return [("the clip uploaded below", UPLOAD), *[(name, name) for name in voices.names()],
            ("dialogue: speaker tags in the text", DIALOGUE)]


def build_app(synthesizer: Synthesizer | None, status: ModelStatus, concurrency: int = 1,
              options: SynthesisOptions | None = None, voices: VoiceStore | None = None) -> gr.Blocks:
    """The page for these models (`synthesizer=None`: the page says why there are none and answers every
    request with it); at most `concurrency` requests run at once, generated together in DiT batches."""
    return build_page(Service.create(synthesizer, status, voices, concurrency, options))


def build_page(service: Service) -> gr.Blocks:
    import gradio as gr

    defaults, max_chars = service.defaults, service.defaults.max_chars
    info = {f.name: f.metadata["help"] for f in dataclasses.fields(SynthesisOptions)}
    streaming = shutil.which("ffmpeg") is not None  # Gradio encodes a streamed player's audio with ffmpeg

    # Parameters with a default may be left out by API clients: they get the component's starting value
    # (the slider defaults), or None where the component starts empty.
    async def clone_voice(text: str, reference: str | None, reference_text: str | None = None,
                          speed: float | None = None, steps: float | None = None, cfg_strength: float | None = None,
                          seed: str | None = None, remove_silence: bool = False, voice: str | None = None,
                          progress=gr.Progress()) -> tuple[tuple[int, np.ndarray], str]:
        """Speak `text` in the voice of `reference` (an audio file), or of a saved `voice` (its name), or as a
        dialogue (`voice` "dialogue", `text` with speaker tags). An empty `reference_text` is transcribed
        automatically; an empty seed is drawn at random. Returns the speech (WAV at the model's rate: 24 kHz
        for mel models, 16 kHz for WavCube) and the seed used."""
        audio, seed_used = await server.clone_voice_cancellable(
            service, text, reference, reference_text, speed, steps, cfg_strength, seed, remove_silence, voice,
            progress=lambda fraction, desc: progress(fraction, desc=desc))
        return audio, str(seed_used)

    async def speak(text, reference, reference_text, speed, steps, cfg_strength, seed, remove_silence, voice,
                    progress=gr.Progress()):
        async for update in server.speak_streamed(
                service, text, reference, reference_text, speed, steps, cfg_strength, seed, remove_silence, voice,
                progress=lambda fraction, desc: progress(fraction, desc=desc), streaming=streaming):
            yield update

    def save_voice(name: str, reference: str | None, reference_text: str | None = None):
        """Save the `reference` clip (with its transcript; empty: transcribed) as a voice called `name`."""
        message = server.save_voice(service, name, reference, reference_text)
        return message, gr.update(choices=voice_choices(service.voices), value=name.strip().lower())

    with gr.Blocks(title="cubetts voice cloning", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown("# cubetts: zero-shot voice cloning\nType a text, give a few seconds of someone's voice, "
                    "and hear the text spoken in that voice.")
        gr.Markdown(service.status.markdown(), elem_id="model-status")
        with gr.Row():
            with gr.Column():
                text = unchecked(gr.Textbox(
                    label="Text to speak", lines=6, placeholder="Type what the voice should say.",
                    info=f"Up to {max_chars} characters; long texts are spoken sentence by sentence. A dialogue "
                         f"(Voice: dialogue) tags each turn with a saved voice: [alice] Hello there. [bob] Hi!"))
                voice = unchecked(gr.Dropdown(
                    voice_choices(service.voices), value=UPLOAD, label="Voice", allow_custom_value=True,
                    elem_id="voice", info=f"a saved voice, the clip below, or a dialogue (turns joined with "
                                          f"{PAUSE_SECONDS} s pauses)"))
                reference = gr.Audio(label="Reference voice", sources=["upload", "microphone"], type="filepath",
                                     elem_id="reference")
                reference_text = unchecked(gr.Textbox(
                    label="Reference transcript (optional)", lines=2,
                    placeholder="Leave empty to transcribe the reference automatically."))
                with gr.Accordion("Save this clip as a voice", open=False):
                    voice_name = unchecked(gr.Textbox(label="Voice name", info="letters, digits, - and _"))
                    save = gr.Button("Save voice")
                    saved = gr.Markdown()
                with gr.Accordion("Advanced settings", open=False):
                    speed = unchecked(gr.Slider(min(0.5, defaults.speed), max(2.0, defaults.speed),
                                                value=defaults.speed, step=0.05, label="Speed", info=info["speed"]))
                    steps = unchecked(gr.Slider(1, max(64, min(MAX_NFE, 2 * defaults.nfe)), value=defaults.nfe,
                                                step=1, label="Steps", info=info["nfe"]))
                    cfg_strength = unchecked(gr.Slider(0.0, max(5.0, 2 * defaults.cfg), value=defaults.cfg, step=0.1,
                                                       label="CFG strength", info=info["cfg"]))
                    # A textbox, not gr.Number: an empty gr.Number is sent as 0, and empty must mean random.
                    seed = unchecked(gr.Textbox("" if defaults.seed is None else str(defaults.seed), label="Seed",
                                                placeholder="random", info=info["seed"] + "; empty draws one at random"))
                    remove_silence = unchecked(gr.Checkbox(
                        False, label="Remove silences", info=f"shorten pauses in the speech to at most "
                                                             f"{MAX_PAUSE_SECONDS} s"))
                button = gr.Button("Synthesize", variant="primary")
            with gr.Column():
                output = gr.Audio(label="Synthesized speech", streaming=streaming, autoplay=True, interactive=False,
                                  elem_id="output")
                download = gr.Audio(label="Download (WAV)", type="numpy", interactive=False, buttons=["download"],
                                    elem_id="download")
                seed_used = gr.Textbox(label="Seed used", interactive=False,
                                       info="type it into the Seed setting to get the same audio again")
        inputs = [text, reference, reference_text, speed, steps, cfg_strength, seed, remove_silence, voice]
        button.click(speak, inputs, [output, download, seed_used], api_name="speak", api_visibility="undocumented")
        # The API's endpoint for the whole audio at once, triggered only through the API.
        gr.Button(visible=False).click(clone_voice, inputs, [download, seed_used], api_name="clone_voice")
        save.click(save_voice, [voice_name, reference, reference_text], [saved, voice], api_name="save_voice")
    demo.queue(default_concurrency_limit=service.concurrency)
    return demo


def serve(service: Service, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          **launch_kwargs) -> gr.Blocks:
    """Start the page, the OpenAI-compatible API and Gradio's API on one server (its address: `.local_url`).
    Keyword arguments go to `gr.Blocks.launch` (e.g. `prevent_thread_lock=True` to return at once)."""
    from starlette.middleware import Middleware

    from . import openai_api
    from .raw_calls import RawCallCheck

    demo = build_page(service)
    app_kwargs = {"routes": openai_api.routes(service), "middleware": [Middleware(RawCallCheck, blocks=demo)]}
    demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_UPLOAD, show_error=True,
                app_kwargs=app_kwargs, **launch_kwargs)
    return demo

