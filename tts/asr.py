"""Transcribing the reference clip with Whisper (transformers) when its transcript is not given."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import torch

from codec.audio import mono_at

logger = logging.getLogger(__name__)

DEFAULT_ASR_MODEL = "openai/whisper-large-v3-turbo"
WHISPER_SAMPLE_RATE = 16000
# A model that could not be loaded is not tried again for this long: each try may cost a hub timeout.
RETRY_SECONDS = 300.0
# The hub is asked once, with this timeout, before a download; unreachable, it fails in seconds
# instead of after transformers' minutes of retries.
HUB_PROBE_SECONDS = 10.0


class ASRUnavailable(RuntimeError):
    """The speech recognizer could not be loaded; the message says how to do without it."""


class WhisperTranscriber:
    """`transcriber(wav: (T,), sample_rate) -> str`, English, for clips under Whisper's 30 s window.

    The model loads once, in a background thread, started by `start_loading()` (the app calls it at
    start-up) or by the first call; calls wait for it. A failure is remembered for `retry_seconds`:
    calls in that time raise `ASRUnavailable` at once instead of trying again.
    """

    def __init__(self, model: str = DEFAULT_ASR_MODEL, device: torch.device | str = "cpu",
                 retry_seconds: float = RETRY_SECONDS):
        self.model_name = model
        self.device = torch.device(device)
        self.retry_seconds = retry_seconds
        self._processor: Any = None  # a transformers processor and model, once loaded
        self._model: Any = None
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._failure: tuple[str, float] | None = None  # (message, time.monotonic() of the failure)

    def start_loading(self) -> None:
        """Load the model in a background thread, unless it is loaded, loading, or failed less than
        `retry_seconds` ago."""
        with self._lock:
            if self._model is not None or (self._loader is not None and self._loader.is_alive()):
                return
            if self._failure is not None and time.monotonic() - self._failure[1] < self.retry_seconds:
                return
            self._failure = None
            self._loader = threading.Thread(target=self._load_in_background, name="asr-loader", daemon=True)
            self._loader.start()

    def _load_in_background(self) -> None:
        try:
            processor, model = self._load()
        except Exception as err:  # any failure: unreachable hub, missing files, out of memory
            message = (f"the speech recognizer {self.model_name!r} could not be loaded ({type(err).__name__}: "
                       f"{err}). Pass the reference transcript, or make the model reachable: a local folder "
                       f"(--asr / CUBETTS_ASR) or access to the Hugging Face Hub. It is tried again after "
                       f"{self.retry_seconds:.0f} s or a restart.")
            logger.error("%s", message)
            with self._lock:
                self._failure = (message, time.monotonic())
            return
        with self._lock:
            self._processor, self._model = processor, model
        logger.info("loaded the speech recognizer %s on %s", self.model_name, self.device)

    def _load(self):
        """(processor, model): a local folder, else the HF cache, else the hub after a quick reachability check."""
        from huggingface_hub import HfApi, constants
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        def read(local_only: bool):
            processor = WhisperProcessor.from_pretrained(self.model_name, local_files_only=local_only)
            model = WhisperForConditionalGeneration.from_pretrained(self.model_name, local_files_only=local_only)
            return processor, model.to(self.device).eval()

        if Path(self.model_name).expanduser().exists():
            return read(local_only=True)
        try:
            return read(local_only=True)  # cached: no network at all
        except OSError:
            if constants.HF_HUB_OFFLINE:
                raise OSError("it is not in the local Hugging Face cache and the hub is offline "
                              "(HF_HUB_OFFLINE=1)") from None
        HfApi().model_info(self.model_name, timeout=HUB_PROBE_SECONDS)  # unreachable or unknown: fails here
        return read(local_only=False)

    def wait(self) -> None:
        """Block until the model is loaded; raise ASRUnavailable (at once, if it failed recently) when it cannot be."""
        self.start_loading()
        loader = self._loader
        if loader is not None:
            loader.join()
        with self._lock:
            if self._model is None:
                raise ASRUnavailable(self._failure[0] if self._failure else
                                     f"the speech recognizer {self.model_name!r} is not loaded")

    @torch.inference_mode()
    def __call__(self, wav: torch.Tensor, sample_rate: int) -> str:
        self.wait()
        wav = mono_at(wav, sample_rate, WHISPER_SAMPLE_RATE)
        features = self._processor(wav.numpy(), sampling_rate=WHISPER_SAMPLE_RATE,
                                   return_tensors="pt").input_features  # (1, mels, frames)
        features = features.to(self.device, self._model.dtype)
        ids = self._model.generate(features, language="en", task="transcribe")
        return self._processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
