"""WavCube: speech ↔ 128-d continuous latent at 50 Hz (16 kHz audio)."""
from .audio import AudioError, load_audio, save_audio
from .checkpoint import CheckpointError
from .decoder import DecoderConfig
from .encoder import EncoderConfig
from .model import WavCube, WavCubeConfig

__all__ = ["WavCube", "WavCubeConfig", "EncoderConfig", "DecoderConfig", "AudioError", "CheckpointError",
           "load_audio", "save_audio"]
