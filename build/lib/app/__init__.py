"""The voice-cloning web app and its HTTP API (Gradio). `python -m app --tts DIR` starts it; in Python:

    synthesizer, status = load_synthesizer("runs/tts-base/checkpoints/step-00100000/ema", "yhaha/WavCube",
                                           DEFAULT_ASR_MODEL, torch.device("cuda"),
                                           codec_kwargs={"subfolder": "WavCube"})
    build_app(synthesizer, status).launch()
"""
from .models import ModelStatus, load_synthesizer
from .server import build_app, clone_voice

__all__ = ["ModelStatus", "build_app", "clone_voice", "load_synthesizer"]
