"""The voice-cloning web app and its HTTP API (Gradio). `python -m app` starts it on F5-TTS v1 Base
(`--tts DIR` for another model); in Python:

    synthesizer, status = load_synthesizer("runs/tts-base/checkpoints/step-00100000/ema", None,
                                           DEFAULT_ASR_MODEL, torch.device("cuda"))  # None: the recorded codec
    build_app(synthesizer, status).launch()
"""
from .models import ModelStatus, load_synthesizer
from .server import build_app, clone_voice

__all__ = ["ModelStatus", "build_app", "clone_voice", "load_synthesizer"]
