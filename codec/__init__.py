"""Speech codecs behind one interface (`Codec`): WavCube (128-d at 50 Hz, 16 kHz audio) and MelCodec
(F5-TTS's 100-bin log-mel at 93.75 Hz, 24 kHz audio, with Vocos or Griffin-Lim to decode)."""
from .audio import AudioError, load_audio, save_audio
from .checkpoint import CheckpointError
from .decoder import DecoderConfig
from .encoder import EncoderConfig
from .interface import Codec, CodecMismatchError, check_codec, codec_subfolder, load_codec, open_codec
from .mel import DEFAULT_VOCOS, GRIFFIN_LIM, MelCodec, MelConfig
from .model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER, WavCube, WavCubeConfig
from .spec import CodecSpec

__all__ = ["Codec", "CodecSpec", "CodecMismatchError", "WavCube", "WavCubeConfig", "MelCodec", "MelConfig",
           "EncoderConfig", "DecoderConfig", "AudioError", "CheckpointError", "DEFAULT_VOCOS", "GRIFFIN_LIM",
           "DEFAULT_WAVCUBE", "DEFAULT_WAVCUBE_SUBFOLDER", "check_codec", "codec_subfolder", "load_codec", "open_codec",
           "load_audio", "save_audio"]
