"""Zero-shot synthesis: text + a reference clip → speech in the reference voice.

    tts = Synthesizer.from_pretrained(tts_path, device=device)  # the codec the checkpoint records
    wav, sr = tts.synthesize("Hello there.", ref_wav, ref_sr, ref_text="What the reference says.")
"""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from codec import Codec, CheckpointError, load_codec, open_codec
from codec.audio import AudioError, checked_clip, checked_rate, load_audio, resample
from codec.masks import length_mask

from . import f5, graphs
from .asr import DEFAULT_ASR_MODEL, WhisperTranscriber
from .model import TTSModel, check_codec_fits
from .options import SynthesisOptions
from .splice import crossfade_join, cut_at_pause, is_silent, trim_silence
from .text import PUNCTUATION, WORD_BOUNDARY, TextError, build_tokenizer, split_long, split_sentences

logger = logging.getLogger(__name__)
# Called with (pieces done, pieces in all) as generation goes.
Progress = Callable[[int, int], None]

MIN_REF_SECONDS = 1.0  # less than a second of speech says too little about a voice
# Prepared references kept for requests that reuse one (the app's usual case): a repeat skips the ASR and
# the codec's encoder, seconds on a CPU. Each holds at most max_ref_seconds of audio and its latent.
REFERENCE_CACHE_SIZE = 16
AudioInput = torch.Tensor | np.ndarray | str | os.PathLike
Transcriber = Callable[[torch.Tensor, int], str]


@dataclass(frozen=True)
class Reference:
    """The prompt: its waveform (T,) at the codec's rate, latent (P, D), transcript (as fed to the
    model) and its tokens, and the gain its waveform was encoded with (undone on the output)."""

    wav: torch.Tensor
    latent: torch.Tensor
    tokens: list[str]
    units: int
    text: str = ""
    gain: float = 1.0


@dataclass(frozen=True)
class Piece:
    """One chunk of one input text, generated in one pass: `frames` new latent frames."""

    text_index: int
    chunk_index: int
    tokens: list[str]
    frames: int
    text: str = ""


@dataclass(frozen=True)
class Job:
    """A checked request, ready to generate: its reference, its texts (normalised, as the model reads
    them) and their pieces, the seed and options it runs with (`prepare` draws the seed when the
    options have none), and whom to tell of its progress. Made by `Synthesizer.prepare`."""

    ref: Reference
    pieces: list[Piece]
    texts: tuple[str, ...]
    seed: int
    options: SynthesisOptions
    progress: Progress | None = None


class Synthesizer:
    """Text-to-latent model + codec (+ an ASR for references given without a transcript)."""

    def __init__(self, model: TTSModel, codec: Codec, transcriber: Transcriber | None = None,
                 options: SynthesisOptions = SynthesisOptions()):
        check_codec_fits(model.config, codec)
        self.model = model.eval()
        self.codec = codec.eval()
        self.tokenizer = build_tokenizer(model.config.tokenizer, model.config.vocab)
        # F5-TTS's models take its text, durations, loudness and joins (tts/f5.py); ours take the phone rules.
        self.f5_rules = model.config.tokenizer == "f5"
        self.transcriber = transcriber or WhisperTranscriber(DEFAULT_ASR_MODEL, codec.device)
        self.options = options
        # On CUDA the DiT runs from CUDA graphs with bf16 weights (tts/graphs.py); False keeps the
        # plain path (float32 weights under bf16 autocast), e.g. to compare the two.
        self.cuda_graphs = True
        self.reference_cache_size = REFERENCE_CACHE_SIZE  # 0: every reference prepared anew, none kept or used
        self._references: OrderedDict[tuple, Reference] = OrderedDict()
        self._references_lock = threading.Lock()

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
        job = self.prepare(texts, ref_wav, ref_sr, ref_text, options, progress, **overrides)
        return self.generate([job])[0], self.sample_rate

    @torch.inference_mode()
    def prepare(self, texts: Sequence[str], ref_wav: AudioInput, ref_sr: int | None = None,
                ref_text: str | None = None, options: SynthesisOptions | None = None,
                progress: Progress | None = None, **overrides) -> Job:
        """Check the texts, then read, check, transcribe and encode the reference, and plan the pieces.

        Every error a request can cause is raised here (TextError, AudioError), none later in
        `generate`, so a server can answer each request on its own and batch the ones that pass. Each
        text is normalised here, once; a seed is drawn here when `seed` is None (`Job.seed` says which).
        """
        opts = (options or self.options).replace(**overrides)
        if isinstance(texts, str) or not texts:
            raise TextError("texts must be a non-empty list of strings")
        normalized = []
        for i, text in enumerate(texts):  # text errors first: they are cheaper to find than audio ones
            try:
                if isinstance(text, str) and len(text) > opts.max_chars:
                    raise TextError(f"text is {len(text)} characters long; the limit is max_chars={opts.max_chars}: "
                                    "split it into shorter texts")
                normalized.append(self.tokenizer.normalize(text))
            except TextError as err:
                raise TextError(f"text {i}: {err}" if len(texts) > 1 else str(err)) from None
        ref = self.prepare_reference(ref_wav, ref_sr, ref_text, opts)
        seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
        if opts.seed is None:
            logger.info("seed %d", seed)
        pieces = [p for i, text in enumerate(normalized) for p in self.plan(i, text, ref, opts)]
        return Job(ref, pieces, tuple(normalized), seed, opts, progress)

    @torch.inference_mode()
    def generate(self, jobs: Sequence[Job], batch_size: int | None = None) -> list[list[torch.Tensor]]:
        """Run prepared jobs, their pieces batched together: `[[wav: (T,)] per text] per job`.

        Pieces that sample alike (same nfe, cfg, sway, solver, schedule) share DiT batches of up to
        `batch_size` (default: the first job's `options.batch_size`), whatever their reference; each
        job's result is the same as when it runs alone. Each job's `progress` hears of its own pieces.
        """
        batch_size = batch_size or jobs[0].options.batch_size
        groups: dict[tuple, list[tuple[int, Piece]]] = defaultdict(list)
        for j, job in enumerate(jobs):
            o = job.options
            groups[o.nfe, o.cfg, o.sway, o.solver, o.schedule].extend((j, p) for p in job.pieces)
        audio: list[dict[tuple[int, int], torch.Tensor]] = [{} for _ in jobs]
        for items in groups.values():
            for start in range(0, len(items), batch_size):
                batch = items[start:start + batch_size]
                for (j, piece), wav in zip(batch, self._generate([(jobs[j], p) for j, p in batch])):
                    audio[j][piece.text_index, piece.chunk_index] = wav
                for j in sorted({j for j, _ in batch}):
                    report = jobs[j].progress
                    if report is not None:
                        report(len(audio[j]), len(jobs[j].pieces))
        out = []
        for job, done in zip(jobs, audio):
            wavs = []
            for i in range(len(job.texts)):
                chunks = [done[key] for key in sorted(k for k in done if k[0] == i)]
                wavs.append(trim_silence(self._join(chunks, job.options), self.sample_rate))
            out.append(wavs)
        return out

    def prepare_reference(self, ref_wav: AudioInput, ref_sr: int | None, ref_text: str | None,
                          opts: SynthesisOptions) -> Reference:
        """Check, trim and encode the reference; transcribe it when `ref_text` is None.

        The last `reference_cache_size` references are kept, keyed by their samples, transcript (or
        transcriber) and `max_ref_seconds`: the same clip again costs a hash, not the ASR and the encoder.
        Errors are not kept.
        """
        wav = self._read_reference(ref_wav, ref_sr)
        if self.reference_cache_size <= 0:  # nothing kept, nothing looked up: no hash on this path
            return self._new_reference(wav, ref_text, opts)
        # Without a transcript the ASR's reading is part of the reference: a new transcriber prepares it anew.
        source = ref_text if ref_text is not None else ("asr", id(self.transcriber))
        key = (hashlib.sha256(wav.numpy().tobytes()).hexdigest(), wav.shape[0], source, opts.max_ref_seconds)
        with self._references_lock:
            if key in self._references:
                self._references.move_to_end(key)
                return self._references[key]
        ref = self._new_reference(wav, ref_text, opts)
        with self._references_lock:
            self._references[key] = ref
            while len(self._references) > self.reference_cache_size:
                self._references.popitem(last=False)
        return ref

    def forget_references(self) -> None:
        """Drop the kept references (benchmarks time a first request this way)."""
        with self._references_lock:
            self._references.clear()

    def _new_reference(self, wav: torch.Tensor, ref_text: str | None, opts: SynthesisOptions) -> Reference:
        sr = self.sample_rate
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
                raise TextError("the ASR heard no words in the reference; pass ref_text", "ref_text")
        try:
            ref_text = self.tokenizer.normalize(ref_text)
        except TextError as err:
            raise TextError(f"ref_text: {err}", "ref_text") from None
        if self.f5_rules:
            ref_text, gain = f5.reference_text(ref_text), f5.loudness_gain(wav)
        else:
            gain = 1.0
        tokens = self.tokenizer.tokenize(ref_text)
        if not self.f5_rules and tokens[-1] not in PUNCTUATION:  # a sentence end between prompt and new text
            tokens.append(".")
        latent, _ = self.codec.encode(wav * gain, sr)  # (1, P, D)
        # A copy: `wav` may share memory with the caller's array, and the reference outlives the call.
        return Reference(wav.clone(), latent[0], tokens, self.tokenizer.count_units(tokens), ref_text, gain)

    def _read_reference(self, ref_wav: AudioInput, ref_sr: int | None) -> torch.Tensor:
        """Any accepted reference → mono float (T,) at the codec's rate, on CPU, checked by the codec's own
        input checks (`codec.audio`): where the reference enters, before silence trimming and the ASR."""
        if isinstance(ref_wav, (str, os.PathLike)):
            wav, ref_sr = load_audio(ref_wav)
        elif ref_sr is None:
            raise AudioError("ref_sr is required when ref_wav is a waveform")
        else:
            wav = torch.as_tensor(ref_wav).cpu()
        return resample(checked_clip(wav, "the reference"), checked_rate(ref_sr, "ref_sr"), self.sample_rate)

    def plan(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        """Split a normalised text (`self.tokenizer.normalize`'s output) into sentence chunks and give each
        its number of frames.

        Frames = prompt frames × (chunk units / prompt units) / speed, units being phones (or
        letters); `opts.duration` instead fixes the total, shared out by units. F5-TTS models
        follow F5-TTS's rules instead (`_plan_f5`).
        """
        if self.f5_rules:
            return self._plan_f5(text_index, text, ref, opts)
        frames_per_unit = ref.latent.shape[0] / ref.units / opts.speed
        max_units = max(1, int(opts.max_chunk_seconds * self.codec.frame_rate / frames_per_unit))
        chunks: list[tuple[list[str], int]] = []  # (tokens, units), sentences packed up to max_units
        for sentence in split_sentences(text):
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

    def _plan_f5(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        """F5-TTS's plan: chunks split after punctuation, up to the UTF-8 bytes the reference speaks in
        `max_chunk_seconds`; each gets the prompt's frames per transcript byte (slower for very short
        texts), and at least one frame per token of prompt + new text, as F5-TTS's sampler ensures."""
        ref_seconds = ref.wav.shape[0] / self.sample_rate
        ref_frames = ref.wav.shape[0] // self.codec.hop_length
        max_bytes = max(1, int(f5.utf8_len(ref.text) / ref_seconds * opts.max_chunk_seconds * opts.speed))
        chunks = f5.split_text(text, max_bytes)
        if opts.duration is not None:
            total_bytes = sum(f5.utf8_len(c) for c in chunks)
            frames = [round(opts.duration * self.codec.frame_rate * f5.utf8_len(c) / total_bytes) for c in chunks]
        else:
            frames = [f5.new_frames(ref_frames, ref.text, c, opts.speed) for c in chunks]
        P = ref.latent.shape[0]
        return [Piece(text_index, j, self.tokenizer.tokenize(chunk),
                      max(1, n, len(self.tokenizer.tokenize(ref.text + chunk)) + 1 - P), chunk)
                for j, (chunk, n) in enumerate(zip(chunks, frames))]

    def _text_ids(self, ref: Reference, piece: Piece) -> list[int]:
        """Token ids of prompt transcript + new text, as the model was trained on them."""
        if self.f5_rules:  # F5-TTS tokenizes the two as one string
            return self.tokenizer.encode(ref.text + piece.text)
        return self.tokenizer.ids(ref.tokens + [WORD_BOUNDARY] + piece.tokens)

    def _join(self, pieces: list[torch.Tensor], opts: SynthesisOptions) -> torch.Tensor:
        """A text's pieces → one waveform: F5-TTS's linear cross-fade for its models, else equal power."""
        return crossfade_join(pieces, self.sample_rate, opts.crossfade_seconds, linear=self.f5_rules)

    def _generate(self, batch: list[tuple[Job, Piece]]) -> list[torch.Tensor]:
        """Pieces, each with its job (reference, seed), sampled alike → waveforms (T_i,) on CPU.
        Piece j of every text starts from the noise of its job's seed + j."""
        latent, lengths = self.sample_latents([job.ref.latent for job, _ in batch],
                                              [self._text_ids(job.ref, p) for job, p in batch],
                                              [p.frames for _, p in batch],
                                              [job.seed + p.chunk_index for job, p in batch], batch[0][0].options)
        mask = length_mask(lengths, latent.shape[1])
        # Decoding with the prompt in front gives the decoder real context at the seam.
        wav = self.codec.decode(latent, mask).cpu()  # (B, N * hop)
        hop = self.codec.hop_length
        return [wav[i, job.ref.latent.shape[0] * hop: int(lengths[i]) * hop] / job.ref.gain
                for i, (job, _) in enumerate(batch)]

    @torch.inference_mode()
    def sample_latents(self, prompts: Sequence[torch.Tensor], texts: Sequence[Sequence[int]], frames: Sequence[int],
                       seeds: Sequence[int], opts: SynthesisOptions) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthesis on latents, the model's part of it: continue each prompt latent `(P_i, D)` by `frames[i]`
        new frames, saying `texts[i]` (token ids of the prompt's transcript + the new text), from the noise of
        `seeds[i]`, sampled by `opts` (nfe, cfg, sway, solver, schedule). Returns `(latent: (B, N, D)` in the
        codec's scale, prompts in front, `lengths: (B,)` prompt + new frames), on the codec's device.
        Training logs its samples through it, from the latents it has."""
        device = self.codec.device
        prompt_lengths = torch.tensor([p.shape[0] for p in prompts])
        lengths = prompt_lengths + torch.tensor(list(frames))
        D = prompts[0].shape[1]
        noise = torch.zeros(len(prompts), int(lengths.max()), D)
        for i, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(seed)
            noise[i, : lengths[i]] = torch.randn(int(lengths[i]), D, generator=gen)  # CPU: same on any device
        text = pad_sequence([torch.tensor(ids, dtype=torch.long) for ids in texts],
                            batch_first=True)  # (B, L), 0 = filler
        prompt = pad_sequence(list(prompts), batch_first=True).to(device)  # (B, P, D)
        args = (prompt, prompt_lengths.to(device), text.to(device), lengths.to(device), noise.to(device))
        options: dict[str, Any] = {"nfe": opts.nfe, "cfg": opts.cfg, "sway": opts.sway, "solver": opts.solver,
                                   "schedule": opts.schedule}
        runner = graphs.fast_velocity(self.model) if self.cuda_graphs else None
        if runner is not None:  # CUDA: bf16 weights, one CUDA graph per padded shape (tts/graphs.py)
            latent = graphs.sample(self.model, *args, velocity=runner, **options)  # (B, N, D)
        else:
            # bf16 autocast on CUDA; the ODE state stays float32, as bf16 velocities are added to
            # the float32 noise.
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                latent = self.model.sample(*args, **options)  # (B, N, D)
        return latent, lengths.to(device)
