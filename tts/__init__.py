"""Zero-shot TTS on codec latents (WavCube or F5-TTS's mel): text + reference clip → latent → waveform.

    from tts import Synthesizer
    tts = Synthesizer.from_pretrained("path/to/tts", device="cuda")  # loads the codec the model records
    wav, sr = tts.synthesize("Hello there.", ref_wav, ref_sr, ref_text="What the reference says.")
    wavs, sr = tts.synthesize_batch(["One.", "Two."], "ref.wav", ref_text=None, seed=0)  # ASR transcribes
"""
from codec.audio import AudioError

from .dit import DiT, DiTConfig
from .f5_checkpoint import load_f5_checkpoint
from .model import TTSConfig, TTSModel
from .options import SynthesisOptions
from .synthesizer import Synthesizer
from .text import TextError, build_tokenizer, normalize_text

__all__ = ["Synthesizer", "SynthesisOptions", "TTSModel", "TTSConfig", "DiT", "DiTConfig", "TextError",
           "AudioError", "build_tokenizer", "normalize_text", "load_f5_checkpoint"]
