"""Transcribing the reference clip with Whisper (transformers) when its transcript is not given."""
from __future__ import annotations

import torch

from codec.audio import resample

DEFAULT_ASR_MODEL = "openai/whisper-large-v3-turbo"
WHISPER_SAMPLE_RATE = 16000


class WhisperTranscriber:
    """`transcriber(wav: (T,), sample_rate) -> str`, English, for clips under Whisper's 30 s window.

    The model is read on the first call, from a local directory or a hub id, so a Synthesizer
    that is always given transcripts never loads it.
    """

    def __init__(self, model: str = DEFAULT_ASR_MODEL, device: torch.device | str = "cpu"):
        self.model_name = model
        self.device = torch.device(device)
        self._processor = None
        self._model = None

    def _load(self) -> None:
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self._processor = WhisperProcessor.from_pretrained(self.model_name)
        self._model = WhisperForConditionalGeneration.from_pretrained(self.model_name).to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, wav: torch.Tensor, sample_rate: int) -> str:
        if self._model is None:
            self._load()
        wav = resample(wav.float().cpu(), sample_rate, WHISPER_SAMPLE_RATE)
        features = self._processor(wav.numpy(), sampling_rate=WHISPER_SAMPLE_RATE,
                                   return_tensors="pt").input_features  # (1, mels, frames)
        features = features.to(self.device, self._model.dtype)
        ids = self._model.generate(features, language="en", task="transcribe")
        return self._processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
