"""Zero-shot synthesis: text + a reference clip → speech in the reference voice.

    tts = Synthesizer.from_pretrained(tts_path, device=device)  # the codec the checkpoint records
    wav, sr = tts.synthesize("Hello there.", ref_wav, ref_sr, ref_text="What the reference says.")

A request goes through its stages in order: `prepare` (text checked and normalised, the reference read
and prepared by the model's rules, the pieces planned, the seed drawn), then `generate` (the pieces of
many jobs sampled together, decoded, joined and finished by the rules). The model's config names its
rules (tts/rules); nothing here depends on which.
"""
from __future__ import annotations

import logging
import os
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from codec import Codec, CheckpointError, load_codec, open_codec

from . import graphs
from .asr import DEFAULT_ASR_MODEL, WhisperTranscriber
from .duration import get_rule
from .flow import Stopped
from .loading import load_model
from .model import TTSModel, check_codec_fits
from .options import SynthesisOptions
from .reference import REFERENCE_CACHE_SIZE, AudioInput, ReferenceCache, read_reference
from .rules import RULES, Piece, Reference, Transcriber
from .text import TextError, build_tokenizer
from .word_check import Redone, check_words, ready

logger = logging.getLogger(__name__)
# Called with (pieces done, pieces in all) as generation goes.
Progress = Callable[[int, int], None]
# Audio one request may generate, per character of its limit: twice the README's "a minute per 1,000
# characters", so that a text of digits or of one repeated word cannot ask for hours.
MAX_SECONDS_PER_CHAR = 0.2


class Cancelled(Exception):
    """Raised by `generate` for a job whose `cancelled()` became true (its client went away)."""


@dataclass(frozen=True)
class Job:
    """A checked request, ready to generate: its reference, its texts (normalised, as the model reads
    them) and their pieces, the seed and options it runs with (`prepare` draws the seed when the
    options have none), whom to tell of its progress, and
    `cancelled`, asked between batches (a job that answers True is dropped). Made by `Synthesizer.prepare`;
    `generate` and `stream` fill `redone` with the pieces the word check (`options.check_words`) found missing
    words in (tts/word_check.py)."""

    ref: Reference
    pieces: list[Piece]
    texts: tuple[str, ...]
    seed: int
    options: SynthesisOptions
    progress: Progress | None = None
    cancelled: Callable[[], bool] | None = None
    redone: list[Redone] = field(default_factory=list)

    def is_cancelled(self) -> bool:
        return self.cancelled is not None and self.cancelled()


def sampled_alike(options: SynthesisOptions) -> tuple:
    """What pieces must share to be sampled in one DiT batch: the ODE's settings."""
    return options.nfe, options.cfg, options.sway, options.solver, options.schedule


@dataclass
class Stream:
    """A job's first text on its way out piece by piece (`Synthesizer.open_stream`, `.advance`): the chunks
    made so far and how many samples of their join were sent."""

    job: Job
    pieces: list[Piece]  # the first text's
    done: list[torch.Tensor] = field(default_factory=list)
    sent: int = 0

    @property
    def ended(self) -> bool:
        return len(self.done) == len(self.pieces)


class Synthesizer:
    """Text-to-latent model + codec (+ an ASR for references given without a transcript), run by the
    rules the model's config names."""

    def __init__(self, model: TTSModel, codec: Codec, transcriber: Transcriber | None = None,
                 options: SynthesisOptions = SynthesisOptions()):
        check_codec_fits(model.config, codec)
        self.model = model.eval()
        self.codec = codec.eval()
        self.tokenizer = build_tokenizer(model.config.tokenizer, model.config.vocab)
        duration = get_rule(model.config.duration_rule, model.config.duration_weights)  # the model's own numbers
        self.rules = RULES[model.config.rules](self.tokenizer, self.codec, duration)
        self.transcriber = transcriber or WhisperTranscriber(DEFAULT_ASR_MODEL, codec.device)
        self.options = options
        # On CUDA the DiT runs from CUDA graphs with bf16 weights (tts/graphs.py); False keeps the
        # plain path (float32 weights under bf16 autocast), e.g. to compare the two.
        self.cuda_graphs = True
        self.references = ReferenceCache(REFERENCE_CACHE_SIZE)

    @classmethod
    def from_pretrained(cls, tts_path: str | os.PathLike, codec: str | os.PathLike | Codec | None = None,
                        device: torch.device | str = "cpu", asr_model: str = DEFAULT_ASR_MODEL,
                        options: SynthesisOptions = SynthesisOptions(), subfolder: str | None = None,
                        revision: str | None = None) -> "Synthesizer":
        """Load the TTS model (`tts.load_model`: ours or an F5-TTS release) and its codec; the ASR loads only
        when first needed.

        `codec` None loads the codec the checkpoint records (`TTSConfig.codec`); a path or hub id
        (with `subfolder`, `revision`; "griffin-lim" for the mel codec's fallback decoder) or a
        loaded codec is used instead, and refused when it does not match the record.
        """
        model = load_model(tts_path, device, subfolder)
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

    @property
    def reference_cache_size(self) -> int:
        """Prepared references kept (16); 0 prepares every reference anew, keeping and using none."""
        return self.references.size

    @reference_cache_size.setter
    def reference_cache_size(self, size: int) -> None:
        self.references.size = size

    def forget_references(self) -> None:
        """Drop the kept references (benchmarks time a first request this way)."""
        self.references.clear()

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
                         progress: Progress | None = None, seconds: Sequence[float] | None = None,
                         **overrides) -> tuple[list[torch.Tensor], int]:
        """Many texts in one voice, generated together in batches of `options.batch_size` pieces.

        Each text gives what `synthesize` gives it alone with the same seed. `seconds`, when given, is how
        long each text's new speech is to be (instead of the duration rule's estimate; the `duration`
        option asks the same of one text, in the model family's own terms). Returns
        `([wav_i: (T_i,)], sample_rate)`.
        """
        if seconds is None:
            job = self.prepare(texts, ref_wav, ref_sr, ref_text, options, progress, **overrides)
            return self.generate([job])[0], self.sample_rate
        if len(seconds) != len(texts) or overrides.get("duration") is not None:
            raise ValueError(f"seconds: one length per text ({len(texts)} texts, {len(seconds)} lengths), "
                             "and no duration option beside it")
        opts = (options or self.options).replace(**overrides)
        for s in seconds:  # checked as the duration option is, before the family's own terms can hide a bad one
            opts.replace(duration=s)
        ref = ref_wav if isinstance(ref_wav, Reference) else self.prepare_reference(ref_wav, ref_sr, ref_text, opts)
        jobs = [self.prepare([text], ref, options=opts, progress=progress, duration=self.rules.duration_for(ref, s))
                for text, s in zip(texts, seconds)]
        out = self.generate(jobs)  # one job per text, their pieces batched together
        return [wavs[0] for wavs in out], self.sample_rate

    @torch.inference_mode()
    def prepare(self, texts: Sequence[str], ref_wav: AudioInput | Reference, ref_sr: int | None = None,
                ref_text: str | None = None, options: SynthesisOptions | None = None,
                progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
                **overrides) -> Job:
        """Check the texts, then read, check, transcribe and encode the reference, and plan the pieces.

        Every error a request can cause is raised here (TextError, AudioError), none later in
        `generate`, so a server can answer each request on its own and batch the ones that pass. Each
        text is normalised here, once, and its limit counted on what will be said; a seed is drawn here
        when `seed` is None (`Job.seed` says which).
        """
        opts = (options or self.options).replace(**overrides)
        if isinstance(texts, str) or not texts:
            raise TextError("texts must be a non-empty list of strings")
        normalized = []
        for i, text in enumerate(texts):  # text errors first: they are cheaper to find than audio ones
            try:
                normalized.append(self._normalized(text, opts))
            except TextError as err:
                raise TextError(f"text {i}: {err}" if len(texts) > 1 else str(err)) from None
        # A saved voice comes prepared (app/voices.py); anything else is read and prepared here.
        ref = ref_wav if isinstance(ref_wav, Reference) else self.prepare_reference(ref_wav, ref_sr, ref_text, opts)
        if opts.check_words:
            ready(self.transcriber)  # the word check's ASR: fails here, not in a batch shared with other jobs
        seed = opts.seed if opts.seed is not None else secrets.randbelow(2**31)
        if opts.seed is None:
            logger.info("seed %d", seed)
        pieces = [p for i, text in enumerate(normalized) for p in self.plan(i, text, ref, opts)]
        seconds = sum(p.length - ref.latent.shape[0] for p in pieces) / self.codec.frame_rate
        if seconds > opts.max_chars * MAX_SECONDS_PER_CHAR:
            raise TextError(f"the text would take about {seconds:.0f} s to say; a request may generate at most "
                            f"{opts.max_chars * MAX_SECONDS_PER_CHAR:.0f} s (max_chars={opts.max_chars} x "
                            f"{MAX_SECONDS_PER_CHAR} s): split it, or lower speed/duration")
        return Job(ref, pieces, tuple(normalized), seed, opts, progress, cancelled)

    def _normalized(self, text: str, opts: SynthesisOptions) -> str:
        """The text as the model will read it, refused when what will be said is over `max_chars`."""
        if isinstance(text, str) and len(text) > 4 * opts.max_chars:  # bound the normaliser's own work
            raise TextError(f"text is {len(text)} characters long; the limit is max_chars={opts.max_chars}: "
                            "split it into shorter texts")
        normalized = self.tokenizer.normalize(text)
        if len(normalized) > opts.max_chars:
            raise TextError(f"text is {len(normalized)} characters long as it will be said (numbers and "
                            f"abbreviations spelled out); the limit is max_chars={opts.max_chars}: split it "
                            "into shorter texts")
        return normalized

    @torch.inference_mode()
    def generate(self, jobs: Sequence[Job], batch_size: int | None = None) -> list[list[torch.Tensor]]:
        """Run prepared jobs, their pieces batched together: `[[wav: (T,)] per text] per job`.

        Pieces that sample alike (same nfe, cfg, sway, solver, schedule) share DiT batches of up to
        `batch_size` (default: the first job's `options.batch_size`), whatever their reference; each
        job's result is the same as when it runs alone. Each job's `progress` hears of its own pieces.
        A job cancelled on the way is dropped between batches, and a batch stops between ODE steps once
        all its jobs are cancelled; a dropped job's result is `Cancelled()` in place of its list (the
        other jobs' results are unaffected).
        """
        batch_size = batch_size or jobs[0].options.batch_size
        groups: dict[tuple, list[tuple[int, Piece]]] = defaultdict(list)
        for j, job in enumerate(jobs):
            groups[sampled_alike(job.options)].extend((j, p) for p in job.pieces)
        audio: list[dict[tuple[int, int], torch.Tensor]] = [{} for _ in jobs]
        dropped: set[int] = set()
        for items in groups.values():
            start = 0
            while start < len(items):
                dropped |= {j for j, job in enumerate(jobs) if j not in dropped and job.is_cancelled()}
                items = items[:start] + [(j, p) for j, p in items[start:] if j not in dropped]
                batch = items[start:start + batch_size]
                start += batch_size
                if not batch:
                    break
                try:
                    wavs = self._generate([(jobs[j], p) for j, p in batch])
                except Cancelled:  # every job of the batch was cancelled while it sampled
                    dropped |= {j for j, _ in batch}
                    continue
                for (j, piece), wav in zip(batch, wavs):
                    audio[j][piece.text_index, piece.chunk_index] = wav
                for j in sorted({j for j, _ in batch}):
                    report = jobs[j].progress
                    if report is not None:
                        report(len(audio[j]), len(jobs[j].pieces))
        out: list[Any] = []
        for j, (job, done) in enumerate(zip(jobs, audio)):
            if j in dropped:
                out.append(Cancelled())
                continue
            out.append([self.rules.finish(self.rules.join([done[key] for key in sorted(k for k in done if k[0] == i)],
                                                          job.options), job.options)
                        for i in range(len(job.texts))])
        return out

    @torch.inference_mode()
    def stream(self, job: Job) -> Iterator[torch.Tensor]:
        """One job's first text as successive waveform pieces `(T_i,)`, each yielded as soon as its chunk is
        generated; their concatenation is `rules.join` of the chunks (what `generate` gives before
        `rules.finish`: silence removal, when on, is not applied to a stream). Stops between chunks when
        the job is cancelled, or between ODE steps of a chunk."""
        stream = self.open_stream(job)
        while not stream.ended:
            (piece,) = self.advance([stream])
            if isinstance(piece, Cancelled):
                return
            if piece.numel():
                yield piece

    def open_stream(self, job: Job) -> Stream:
        """A stream of `job`'s first text, for `advance`."""
        return Stream(job, [p for p in job.pieces if p.text_index == 0])

    @torch.inference_mode()
    def advance(self, streams: Sequence[Stream], batch_size: int | None = None) -> list[torch.Tensor | Cancelled]:
        """The next chunk of each unfinished stream, generated together: streams sampled alike share DiT batches
        of up to `batch_size` (default: the first one's `options.batch_size`), each chunk the same as alone.
        Returns, per stream, its new audio `(T,)` (empty while a seam waits for the next chunk; the rest once
        it has ended), or `Cancelled()` for a stream cancelled before or during its chunk."""
        out: list[Any] = [None] * len(streams)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, stream in enumerate(streams):
            if stream.ended:
                raise ValueError("advance: a stream that has ended has no next chunk")
            if stream.job.is_cancelled():
                out[i] = Cancelled()
                continue
            groups[sampled_alike(stream.job.options)].append(i)
        size = batch_size or (streams[0].job.options.batch_size if streams else 1)
        for members in groups.values():
            for start in range(0, len(members), size):
                batch = members[start:start + size]
                try:
                    wavs = self._generate([(streams[i].job, streams[i].pieces[len(streams[i].done)]) for i in batch])
                except Cancelled:  # every stream of the batch was cancelled while it sampled
                    for i in batch:
                        out[i] = Cancelled()
                    continue
                for i, wav in zip(batch, wavs):
                    out[i] = self._sendable(streams[i], wav)
        return out

    def _sendable(self, stream: Stream, chunk: torch.Tensor) -> torch.Tensor:
        """Add a stream's new chunk; its join's samples that no later seam can change and were not sent yet."""
        stream.done.append(chunk)
        job = stream.job
        if job.progress is not None:
            job.progress(len(stream.done), len(stream.pieces))
        joined = self.rules.join(stream.done, job.options)
        hold = round(self.rules.crossfade(job.options) * self.sample_rate)  # the seam a later chunk may change
        end = joined.shape[0] if stream.ended else max(stream.sent, joined.shape[0] - hold)
        piece = joined[stream.sent:end]
        stream.sent = max(stream.sent, end)
        return piece

    def prepare_reference(self, ref_wav: AudioInput, ref_sr: int | None, ref_text: str | None,
                          opts: SynthesisOptions) -> Reference:
        """Read and check the reference, then have the rules prepare it (trim, transcribe when `ref_text` is
        None, encode); kept in `self.references`, keyed by its samples, transcript (or transcriber) and the
        options that shape it."""
        wav, sr = read_reference(ref_wav, ref_sr)
        # Without a transcript the ASR's reading is part of the reference: a new transcriber prepares it anew.
        source = ref_text if ref_text is not None else ("asr", id(self.transcriber))
        return self.references.get(wav, sr, source, (self.rules.name, self.rules.ref_limit(opts)),
                                   lambda: self.rules.prepare_reference(wav, sr, ref_text, opts, self.transcriber))

    def plan(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        """A normalised text (`self.tokenizer.normalize`'s output) → its pieces, by the model's rules."""
        return self.rules.plan(text_index, text, ref, opts)

    def _generate(self, batch: list[tuple[Job, Piece]]) -> list[torch.Tensor]:
        """Pieces, each with its job (reference, seed), sampled alike → their new speech (T_i,) on CPU."""
        D = self.model.config.dit.latent_dim
        noises = []
        for job, piece in batch:
            siblings = [p for p in job.pieces if p.text_index == piece.text_index]
            noises.append(self.rules.noise(job.seed, siblings, piece.chunk_index, D))
        jobs = [job for job, _ in batch]
        asked = all(job.cancelled is not None for job in jobs)
        try:
            latent, lengths = self.sample_latents([job.ref.latent for job in jobs], [p.ids for _, p in batch], noises,
                                                  batch[0][0].options,
                                                  stop=(lambda: all(job.is_cancelled() for job in jobs)) if asked else None)
        except Stopped:
            raise Cancelled() from None
        wavs = self.rules.decode(latent, lengths, [(job.ref, p) for job, p in batch])
        return check_words(batch, wavs, self._generate, self.transcriber, self.sample_rate)  # when asked to

    @torch.inference_mode()
    def sample_latents(self, prompts: Sequence[torch.Tensor], texts: Sequence[Sequence[int]],
                       noises: Sequence[torch.Tensor], opts: SynthesisOptions,
                       stop: Callable[[], bool] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthesis on latents, the model's part of it: continue each prompt latent `(P_i, D)` to `N_i` frames
        in all, saying `texts[i]` (token ids of the prompt's transcript + the new text), from the noise
        `noises[i]: (N_i, D)`, sampled by `opts` (nfe, cfg, sway, solver, schedule). Returns `(latent: (B, N, D)`
        in the codec's scale, prompts in front, `lengths: (B,)` the N_i), on the codec's device.
        Training logs its samples through it, from the latents it has. `stop()` is asked before each ODE
        step; True raises `tts.flow.Stopped`."""
        device = self.codec.device
        prompt_lengths = torch.tensor([p.shape[0] for p in prompts])
        lengths = torch.tensor([n.shape[0] for n in noises])
        noise = pad_sequence(list(noises), batch_first=True)  # (B, N, D), zero past each length
        text = pad_sequence([torch.tensor(ids, dtype=torch.long) for ids in texts],
                            batch_first=True)  # (B, L), 0 = filler
        prompt = pad_sequence(list(prompts), batch_first=True).to(device)  # (B, P, D)
        args = (prompt, prompt_lengths.to(device), text.to(device), lengths.to(device), noise.to(device))
        options: dict[str, Any] = {"nfe": opts.nfe, "cfg": opts.cfg, "sway": opts.sway, "solver": opts.solver,
                                   "schedule": opts.schedule, "stop": stop}
        runner = graphs.fast_velocity(self.model) if self.cuda_graphs else None
        if runner is not None:  # CUDA: bf16 weights, one CUDA graph per padded shape (tts/graphs.py)
            latent = graphs.sample(self.model, *args, velocity=runner, **options)  # (B, N, D)
        else:
            # bf16 autocast on CUDA; the ODE state stays float32, as bf16 velocities are added to
            # the float32 noise.
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                latent = self.model.sample(*args, **options)  # (B, N, D)
        return latent, lengths.to(device)
