"""The voice-cloning web app, its Gradio API and an OpenAI-compatible speech API, in one server.
`python -m app` starts it on F5-TTS v1 Base (`--tts DIR` for another model); in Python:

    synthesizer, status = load_synthesizer("runs/tts-base/checkpoints/step-00100000/ema", None,
                                           DEFAULT_ASR_MODEL, torch.device("cuda"))  # None: the recorded codec
    serve(Service.create(synthesizer, status, VoiceStore()))
"""
from .models import ModelStatus, load_synthesizer
from .page import build_app, serve
from .server import clone_voice
from .service import Service
from .voices import VoiceStore

__all__ = ["ModelStatus", "Service", "VoiceStore", "build_app", "clone_voice", "load_synthesizer", "serve"]
