"""Speech recognisers for WER: Whisper and CTC models through transformers, and PocketSphinx offline.

Every backend has `transcribe(wavs: list[(T,) tensors], sample_rate) -> list[str]` and `describe() -> dict`
(what the report records). Each resamples to its own rate; batching is internal and does not change results.
"""
from __future__ import annotations

import os
from typing import Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import torch

from codec.audio import resample, to_mono

ASR_SAMPLE_RATE = 16000  # Whisper, HuBERT/wav2vec2 CTC models and the PocketSphinx en-us model all take 16 kHz
WHISPER_WINDOW_S = 30  # Whisper's fixed input window; longer clips need its long-form (timestamped) decoding

T = TypeVar("T")


@runtime_checkable
class ASR(Protocol):
    def transcribe(self, wavs: list[torch.Tensor], sample_rate: int) -> list[str]: ...

    def describe(self) -> dict: ...


class ASRError(RuntimeError):
    """A recogniser that cannot be loaded (missing path, no network for a hub id) or run."""


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _to_16k(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    return resample(to_mono(wav.detach()).float().cpu(), sample_rate, ASR_SAMPLE_RATE)


def _from_pretrained(loader, path_or_id: str | os.PathLike, **kwargs):
    """Local path first, then the hub (honours HF_HUB_OFFLINE); one readable error either way."""
    try:
        return loader.from_pretrained(str(path_or_id), **kwargs)
    except (OSError, ValueError) as err:
        where = "local directory" if os.path.exists(str(path_or_id)) else "hub id (or missing local path)"
        raise ASRError(f"cannot load ASR model {str(path_or_id)!r} as a {where}: {err}") from None


class WhisperASR:
    """Whisper through transformers; `openai/whisper-large-v3` is the model F5-TTS and WavCube score with.

    Decoding: beam search with 5 beams, language forced to English, task "transcribe", as F5-TTS calls
    faster-whisper. F5-TTS runs the CTranslate2 port (faster-whisper, float16); this is the reference PyTorch
    implementation (float16 on CUDA, float32 on CPU), so WER can differ from theirs in the second decimal.
    Clips over 30 s use Whisper's sequential long-form decoding; LibriSpeech-PC targets are all under 10 s.
    """

    def __init__(self, path_or_id: str | os.PathLike = "openai/whisper-large-v3", device: str | torch.device = "cpu",
                 batch_size: int = 8, num_beams: int = 5, language: str = "en"):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.device = torch.device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.path_or_id, self.batch_size = str(path_or_id), batch_size
        self.num_beams, self.language = num_beams, language
        self.processor = _from_pretrained(WhisperProcessor, path_or_id)
        model = _from_pretrained(WhisperForConditionalGeneration, path_or_id, dtype=self.dtype)
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def transcribe(self, wavs: list[torch.Tensor], sample_rate: int) -> list[str]:
        texts: list[str] = []
        for chunk in batched(wavs, self.batch_size):
            audio = [_to_16k(w, sample_rate).numpy() for w in chunk]
            long_form = max(len(a) for a in audio) > WHISPER_WINDOW_S * ASR_SAMPLE_RATE
            # Short-form needs exactly 30 s of features (padded); long-form takes the full length plus a mask.
            extra = {"truncation": False, "padding": "longest"} if long_form else {}
            feats = self.processor(audio, sampling_rate=ASR_SAMPLE_RATE, return_tensors="pt",
                                   return_attention_mask=True, **extra)
            ids = self.model.generate(
                feats.input_features.to(self.device, self.dtype), attention_mask=feats.attention_mask.to(self.device),
                language=self.language, task="transcribe", num_beams=self.num_beams, return_timestamps=long_form,
            )
            texts += [t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True)]
        return texts

    def describe(self) -> dict:
        return {"backend": "whisper (transformers)", "model": self.path_or_id, "num_beams": self.num_beams,
                "language": self.language, "dtype": str(self.dtype).removeprefix("torch."),
                "hub_commit": getattr(self.model.config, "_commit_hash", None)}


class HubertCTCASR:
    """A CTC recogniser through transformers, greedy decoding; `facebook/hubert-large-ls960-ft` by default.

    Any `AutoModelForCTC` checkpoint with its processor works (wav2vec2 too). Models whose feature extractor
    gives no attention mask (the wav2vec2-base family) are run one clip at a time, because zero padding
    changes their group-normalised features; HuBERT-large uses the mask and is batched.
    """

    def __init__(self, path_or_id: str | os.PathLike = "facebook/hubert-large-ls960-ft",
                 device: str | torch.device = "cpu", batch_size: int = 8):
        from transformers import AutoModelForCTC, AutoProcessor

        self.device = torch.device(device)
        self.path_or_id = str(path_or_id)
        self.processor = _from_pretrained(AutoProcessor, path_or_id)
        self.model = _from_pretrained(AutoModelForCTC, path_or_id).to(self.device).eval()
        uses_mask = getattr(self.processor.feature_extractor, "return_attention_mask", False)
        self.batch_size = batch_size if uses_mask else 1

    @torch.inference_mode()
    def transcribe(self, wavs: list[torch.Tensor], sample_rate: int) -> list[str]:
        texts: list[str] = []
        for chunk in batched(wavs, self.batch_size):
            audio = [_to_16k(w, sample_rate).numpy() for w in chunk]
            inputs = self.processor(audio, sampling_rate=ASR_SAMPLE_RATE, return_tensors="pt", padding=True)
            mask = inputs.get("attention_mask")
            logits = self.model(inputs.input_values.to(self.device),
                                attention_mask=None if mask is None else mask.to(self.device)).logits  # (B, F, V)
            ids = logits.argmax(dim=-1).cpu()  # (B, F)
            # Frames computed from padding would decode to tokens: keep each clip's own frames only.
            frames = [ids.shape[1]] * len(chunk) if mask is None else \
                self.model._get_feat_extract_output_lengths(mask.sum(dim=-1)).tolist()
            texts += [self.processor.decode(row[:n]).strip() for row, n in zip(ids, frames)]
        return texts

    def describe(self) -> dict:
        return {"backend": "ctc (transformers)", "model": self.path_or_id, "decoding": "greedy",
                "hub_commit": getattr(self.model.config, "_commit_hash", None)}


class PocketSphinxASR:
    """CMU PocketSphinx with the US-English acoustic model, language model and dictionary shipped in its wheel.

    No download and no GPU: it exists so the whole pipeline can run offline (tests, smoke runs). Its WER on
    clean read speech is several times Whisper's; never compare its numbers with published ones.
    """

    def __init__(self):
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL")

    def transcribe(self, wavs: list[torch.Tensor], sample_rate: int) -> list[str]:
        texts = []
        for wav in wavs:
            pcm = (_to_16k(wav, sample_rate).clamp(-1.0, 1.0) * 32767).to(torch.int16).numpy()
            self._decoder.start_utt()
            self._decoder.process_raw(pcm.tobytes(), full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            texts.append(hyp.hypstr.strip() if hyp is not None else "")
        return texts

    def describe(self) -> dict:
        import pocketsphinx

        return {"backend": "pocketsphinx", "model": "en-us (shipped with pocketsphinx)",
                "model_path": pocketsphinx.get_model_path()}


ASR_BACKENDS = ("whisper", "hubert", "pocketsphinx")


def load_asr(backend: str, path_or_id: str | None = None, device: str | torch.device = "cpu",
             batch_size: int = 8) -> ASR:
    """Build a backend by name; `path_or_id` overrides the default checkpoint of whisper/hubert."""
    if backend == "whisper":
        return WhisperASR(path_or_id or "openai/whisper-large-v3", device=device, batch_size=batch_size)
    if backend == "hubert":
        return HubertCTCASR(path_or_id or "facebook/hubert-large-ls960-ft", device=device, batch_size=batch_size)
    if backend == "pocketsphinx":
        if path_or_id:
            raise ValueError("the pocketsphinx backend uses its shipped en-us model; it takes no model path")
        return PocketSphinxASR()
    raise ValueError(f"unknown ASR backend {backend!r}; choose one of {', '.join(ASR_BACKENDS)}")
