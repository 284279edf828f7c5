"""Zero-shot synthesis: text + a reference clip → speech in the reference voice.

    tts = Synthesizer.from_pretrained(tts_path, device=device)  # the codec the checkpoint records
    wav, sr = tts.synthesize("Hello there.", ref_wav, ref_sr, ref_text="What the reference says.")
"""
from __future__ import annotations

import logging
import numbers
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from codec import Codec, CheckpointError, check_codec, load_codec, open_codec
from codec.audio import AudioError, load_audio, resample, to_mono

from .asr import DEFAULT_ASR_MODEL, WhisperTranscriber
from .model import TTSModel
from .options import SynthesisOptions
from .splice import crossfade_join, cut_at_pause, is_silent, trim_silence
from .text import (PUNCTUATION, WORD_BOUNDARY, TextError, build_tokenizer, require_speakable, split_long,
                   split_sentences)

logger = logging.getLogger(__name__)
# Called with (pieces done, pieces in all) as generation goes.
Progress = Callable[[int, int], None]

MIN_REF_SECONDS = 1.0  # less than a second of speech says too little about a voice
AudioInput = torch.Tensor | np.ndarray | str | os.PathLike
Transcriber = Callable[[torch.Tensor, int], str]


@dataclass(frozen=True)
class Reference:
    """The prompt: its waveform (T,) at the codec's rate, latent (P, D), and transcript tokens."""

    wav: torch.Tensor
    latent: torch.Tensor
    tokens: list[str]
    units: int


@dataclass(frozen=True)
class Piece:
    """One chunk of one input text, generated in one pass: `frames` new latent frames."""

    text_index: int
    chunk_index: int
    tokens: list[str]
    frames: int


class Synthesizer:
    """Text-to-latent model + codec (+ an ASR for references given without a transcript)."""

    def __init__(self, model: TTSModel, codec: Codec, transcriber: Transcriber | None = None,
                 options: SynthesisOptions = SynthesisOptions()):
        if model.config.codec is not None:
            check_codec(model.config.codec, codec)
        if codec.latent_dim != model.config.dit.latent_dim:
            raise ValueError(f"codec latent_dim {codec.latent_dim} != TTS latent_dim {model.config.dit.latent_dim}")
        self.model = model.eval()
        self.codec = codec.eval()
        self.tokenizer = build_tokenizer(model.config.tokenizer, model.config.vocab)
        self.transcriber = transcriber or WhisperTranscriber(DEFAULT_ASR_MODEL, codec.device)
        self.options = options

    @classmethod
    def from_pretrained(cls, tts_path: str | os.PathLike, codec: str | os.PathLike | Codec | None = None,
                        device: torch.device | str = "cpu", asr_model: str = DEFAULT_ASR_MODEL,
                        options: SynthesisOptions = SynthesisOptions(), subfolder: str | None = None,
                        revision: str | None = None) -> "Synthesizer":
        """Load the TTS model and its codec (local directories or hub ids); the ASR loads only when first needed.

        `codec` None loads the codec the checkpoint records (`TTSConfig.codec`); a path or hub id
        (with `subfolder`, `revision`; "griffin-lim" for the mel codec's fallback decoder) or a
        loaded codec is used instead, and refused when it does not match the record.
        """
        model = TTSModel.from_pretrained(tts_path, device)
        record = model.config.codec
        if codec is None:
            if record is None:
                raise CheckpointError(f"the TTS model {tts_path} records no codec (it predates codec records): "
                                      f"pass the codec its latents came from (--codec, or codec=...)")
            codec = load_codec(record, device)
        elif isinstance(codec, (str, os.PathLike)):
            codec = open_codec(codec, subfolder, revision, device)
        return cls(model, codec.to(device), WhisperTranscriber(asr_model, device), options)

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    def synthesize(self, text: str, ref_wav: AudioInput, ref_sr: int | None = None, ref_text: str | None = None,
                   options: SynthesisOptions | None = None, progress: Progress | None = None,
                   **overrides) -> tuple[torch.Tensor, int]:
        """Speak `text` in the voice of the reference. Returns `(wav: (T,) float on CPU, sample_rate)`.

        `ref_wav` is a waveform `(T,)` / `(C, T)` at `ref_sr`, or an audio file path (then `ref_sr`
        is read from it). `ref_text` is its transcript; when None, the ASR writes one. `overrides`
        are SynthesisOptions fields (`speed`, `nfe`, `cfg`, `seed`, ...) for this call.
        `progress(done, total)` is called after each generated batch of text pieces.
        Raises TextError for empty or unspeakable text, AudioError for an unreadable, silent or
        too-short reference.
        """
        wavs, sr = self.synthesize_batch([text], ref_wav, ref_sr, ref_text, options, progress, **overrides)
        return wavs[0], sr

    @torch.inference_mode()
    def synthesize_batch(self, texts: Sequence[str], ref_wav: AudioInput, ref_sr: int | None = None,
                         ref_text: str | None = None, options: SynthesisOptions | None = None,
                         progress: Progress | None = None, **overrides) -> tuple[list[torch.Tensor], int]:
        """Many texts in one voice, generated together in batches of `options.batch_size` pieces.

        Each text gives what `synthesize` gives it alone with the same seed. Returns
        `([wav_i: (T_i,)], sample_rate)`.
        """
        opts = (options or self.options).replace(**overrides)
        if isinstance(texts, str) or not texts:
            raise TextError("texts must be a non-empty list of strings")
        normalized = []
        for i, text in enumerate(texts):  # text errors first: they are cheaper to find than audio ones
            try:
                normalized.append(require_speakable(text))
            except TextError as err:
                raise TextError(f"text {i}: {err}" if len(texts) > 1 else str(err)) from None
        ref = self.prepare_reference(ref_wav, ref_sr, ref_text, opts)
        seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
        if opts.seed is None:
            logger.info("seed %d", seed)
        pieces = [p for i, text in enumerate(normalized) for p in self.plan(i, text, ref, opts)]
        audio: dict[tuple[int, int], torch.Tensor] = {}
        for start in range(0, len(pieces), opts.batch_size):
            batch = pieces[start:start + opts.batch_size]
            for piece, wav in zip(batch, self._generate(batch, ref, seed, opts)):
                audio[piece.text_index, piece.chunk_index] = wav
            if progress is not None:
                progress(len(audio), len(pieces))
        out = []
        for i in range(len(texts)):
            chunks = [audio[key] for key in sorted(k for k in audio if k[0] == i)]
            out.append(trim_silence(crossfade_join(chunks, self.sample_rate, opts.crossfade_seconds), self.sample_rate))
        return out, self.sample_rate

    def prepare_reference(self, ref_wav: AudioInput, ref_sr: int | None, ref_text: str | None,
                          opts: SynthesisOptions) -> Reference:
        """Check, trim and encode the reference; transcribe it when `ref_text` is None."""
        sr = self.sample_rate
        wav = self._read_reference(ref_wav, ref_sr)
        if is_silent(wav, sr):
            raise AudioError("the reference audio is silent")
        wav = trim_silence(wav, sr)
        if wav.shape[0] < MIN_REF_SECONDS * sr:
            raise AudioError(f"the reference holds {wav.shape[0] / sr:.2f} s of sound once silence is trimmed; "
                             f"at least {MIN_REF_SECONDS:.0f} s is needed")
        if wav.shape[0] > opts.max_ref_seconds * sr:
            if ref_text is not None:
                raise AudioError(f"the reference is {wav.shape[0] / sr:.1f} s long, over max_ref_seconds="
                                 f"{opts.max_ref_seconds}; cut it to match its transcript, or omit ref_text "
                                 f"so that it is cut at a pause and transcribed")
            cut = cut_at_pause(wav, sr, opts.max_ref_seconds)
            if cut is None or cut.shape[0] < MIN_REF_SECONDS * sr:
                logger.warning("no pause in the first %.0f s of the reference: cutting it mid-speech",
                               opts.max_ref_seconds)
                cut = wav[: int(opts.max_ref_seconds * sr)]
            wav = trim_silence(cut, sr)
        if ref_text is None:
            ref_text = self.transcriber(wav, sr)
            logger.info("reference transcript (ASR): %r", ref_text)
            if not ref_text.strip():
                raise TextError("the ASR heard no words in the reference; pass ref_text")
        try:
            tokens = self.tokenizer.tokenize(ref_text)
        except TextError as err:
            raise TextError(f"ref_text: {err}") from None
        if tokens[-1] not in PUNCTUATION:  # a sentence end between the prompt and the new text
            tokens.append(".")
        latent, _ = self.codec.encode(wav, sr)  # (1, P, D)
        return Reference(wav, latent[0], tokens, self.tokenizer.count_units(tokens))

    def _read_reference(self, ref_wav: AudioInput, ref_sr: int | None) -> torch.Tensor:
        """Any accepted reference → mono float (T,) at the codec's rate, on CPU."""
        if isinstance(ref_wav, (str, os.PathLike)):
            wav, ref_sr = load_audio(ref_wav)
        else:
            if ref_sr is None:
                raise AudioError("ref_sr is required when ref_wav is a waveform")
            wav = torch.as_tensor(ref_wav)
        if not isinstance(ref_sr, numbers.Integral) or ref_sr <= 0:
            raise AudioError(f"ref_sr must be a positive integer, got {ref_sr!r}")
        ref_sr = int(ref_sr)
        if not torch.is_floating_point(wav):
            raise AudioError(f"the reference must hold float samples in [-1, 1], got dtype {wav.dtype}")
        wav = to_mono(wav.detach().float().cpu())
        if wav.numel() == 0 or not torch.isfinite(wav).all():
            raise AudioError("the reference is empty or holds NaN or infinite samples")
        return resample(wav, ref_sr, self.sample_rate)

    def plan(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        """Split a text into sentence chunks and give each its number of frames.

        Frames = prompt frames × (chunk units / prompt units) / speed, units being phones (or
        letters); `opts.duration` instead fixes the total, shared out by units.
        """
        frames_per_unit = ref.latent.shape[0] / ref.units / opts.speed
        max_units = max(1, int(opts.max_chunk_seconds * self.codec.frame_rate / frames_per_unit))
        chunks: list[tuple[list[str], int]] = []  # (tokens, units), sentences packed up to max_units
        for sentence in split_sentences(require_speakable(text)):
            tokens = self.tokenizer.tokenize(sentence)
            units = self.tokenizer.count_units(tokens)
            if units > max_units:
                max_words = max(1, len(sentence.split()) * max_units // units)
                parts = [self.tokenizer.tokenize(s) for s in split_long(sentence, max_words)]
            else:
                parts = [tokens]
            for part in parts:
                n = self.tokenizer.count_units(part)
                if chunks and chunks[-1][1] + n <= max_units:
                    chunks[-1] = (chunks[-1][0] + [WORD_BOUNDARY] + part, chunks[-1][1] + n)
                else:
                    chunks.append((part, n))
        if opts.duration is not None:
            total_units = sum(n for _, n in chunks)
            frames_per_unit = opts.duration * self.codec.frame_rate / total_units
        pieces = [Piece(text_index, j, tokens, max(1, round(n * frames_per_unit)))
                  for j, (tokens, n) in enumerate(chunks)]
        for p in pieces:
            if len(ref.tokens) + 1 + len(p.tokens) > ref.latent.shape[0] + p.frames:
                logger.warning("text %d chunk %d: %d frames are fewer than its text tokens; the end of the "
                               "text will be cut", text_index, p.chunk_index, p.frames)
        return pieces

    def _generate(self, batch: list[Piece], ref: Reference, seed: int, opts: SynthesisOptions) -> list[torch.Tensor]:
        """Pieces → waveforms (T_i,) on CPU. Piece j of every text starts from the noise of seed + j."""
        device = self.codec.device
        P, D = ref.latent.shape
        lengths = torch.tensor([P + p.frames for p in batch])
        noise = torch.zeros(len(batch), int(lengths.max()), D)
        for i, p in enumerate(batch):
            gen = torch.Generator().manual_seed(seed + p.chunk_index)
            noise[i, : lengths[i]] = torch.randn(int(lengths[i]), D, generator=gen)  # CPU: same on any device
        text = pad_sequence([torch.tensor(self.tokenizer.ids(ref.tokens + [WORD_BOUNDARY] + p.tokens))
                             for p in batch], batch_first=True)  # (B, L), 0 = filler
        prompt = ref.latent[None].expand(len(batch), -1, -1).to(device)  # (B, P, D)
        # bf16 on CUDA, as the codec does; the ODE state stays float32, as bf16 velocities are added
        # to the float32 noise.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            latent = self.model.sample(prompt, torch.full_like(lengths, P).to(device), text.to(device),
                                       lengths.to(device), noise.to(device), nfe=opts.nfe, cfg=opts.cfg,
                                       sway=opts.sway, solver=opts.solver, schedule=opts.schedule)  # (B, N, D)
        mask = torch.arange(latent.shape[1], device=device)[None] < lengths.to(device)[:, None]
        # Decoding with the prompt in front gives the decoder real context at the seam.
        wav = self.codec.decode(latent, mask).cpu()  # (B, N * hop)
        hop = self.codec.hop_length
        return [wav[i, P * hop: int(lengths[i]) * hop] for i in range(len(batch))]
