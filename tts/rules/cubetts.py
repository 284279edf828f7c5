"""cubetts' own rules, for the models we train: phones (or letters) set the durations, sentences the chunks.

- Reference: silence trimmed at both ends; over `max_ref_seconds` it is cut at a pause (only when the
  ASR is to transcribe it: a given transcript speaks the whole clip); at least MIN_REF_SECONDS of sound.
- Durations: the model's duration rule (`TTSConfig.duration_rule`, tts/duration.py; "fitted" for new models,
  "phones" for models saved before it was recorded) per chunk; `duration` fixes the seconds of new speech
  instead, shared out by the tokenizer's units.
- Chunks: sentences packed up to `max_chunk_seconds` of speech; a longer sentence split at words.
- Noise: piece j of a text starts from the noise of seed + j. Decoding: the new speech only, the decoder
  continuing from what it kept of the prompt (real context at the seam, the prompt not decoded again). Joins: equal-power cross-fades. The output is trimmed of
  silence at its ends.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from codec.audio import AudioError, resample

from ..duration import LEGACY_RULE, get_rule
from ..options import SynthesisOptions
from ..splice import crossfade_join, cut_at_pause, is_silent, trim_silence
from ..text import PUNCTUATION, WORD_BOUNDARY, split_long, split_sentences
from .base import MIN_REF_SECONDS, Piece, Reference, Rules, Transcriber

logger = logging.getLogger(__name__)


class CubeRules(Rules):
    name = "cubetts"
    max_ref_seconds = 15.0
    crossfade_seconds = 0.1
    remove_silence = True
    # Long text is split into pieces of about this length at sentence ends: the models are trained on
    # utterances of up to ~30 s, prompt included.
    max_chunk_seconds = 15.0

    def prepare_reference(self, wav: torch.Tensor, sample_rate: int, ref_text: str | None,
                          opts: SynthesisOptions, transcribe: Transcriber) -> Reference:
        sr = self.codec.sample_rate
        wav = resample(wav, sample_rate, sr)
        if is_silent(wav, sr):
            raise AudioError("the reference audio is silent")
        wav = trim_silence(wav, sr)
        if wav.shape[0] < MIN_REF_SECONDS * sr:
            raise AudioError(f"the reference holds {wav.shape[0] / sr:.2f} s of sound once silence is trimmed; "
                             f"at least {MIN_REF_SECONDS:.0f} s is needed")
        max_seconds = self.ref_limit(opts)
        if wav.shape[0] > max_seconds * sr:
            if ref_text is not None:
                raise AudioError(f"the reference is {wav.shape[0] / sr:.1f} s long, over max_ref_seconds="
                                 f"{max_seconds}; cut it to match its transcript, or omit ref_text "
                                 f"so that it is cut at a pause and transcribed")
            cut = cut_at_pause(wav, sr, max_seconds)
            if cut is None or cut.shape[0] < MIN_REF_SECONDS * sr:
                logger.warning("no pause in the first %.0f s of the reference: cutting it mid-speech", max_seconds)
                cut = wav[: int(max_seconds * sr)]
            wav = trim_silence(cut, sr)
        ref_text = self.transcript(ref_text, wav, sr, transcribe)
        tokens = self.tokenizer.tokenize(ref_text)
        if tokens[-1] not in PUNCTUATION:  # a sentence end between prompt and new text
            tokens.append(".")
        latent, _ = self.codec.encode(wav, sr)  # (1, P, D)
        # A copy: `wav` may share memory with the caller's array, and the reference outlives the call.
        return Reference(wav.clone(), latent[0], ref_text, tokens, frames=latent.shape[1],
                         units=self.tokenizer.count_units(tokens), seconds=wav.shape[0] / sr)

    def plan(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        """Sentence chunks of the text (sized by the prompt's frames per unit), each as long as the model's
        duration rule says; `opts.duration` instead fixes the total, shared out by units. With
        `first_chunk_seconds` the first chunk is cut at clauses (then words) to about that length."""
        frame_rate = self.codec.frame_rate
        frames_per_unit = ref.frames / ref.units / opts.speed
        seconds = self.max_chunk_seconds if opts.max_chunk_seconds is None else opts.max_chunk_seconds
        chunks = self._chunks(text, max(1, int(seconds * frame_rate / frames_per_unit)))
        if opts.first_chunk_seconds is not None:
            first = max(1, int(opts.first_chunk_seconds * frame_rate / frames_per_unit))
            chunks = self._chunks(chunks[0][2], first) + chunks[1:]
        rule = self.duration or get_rule(LEGACY_RULE)
        if opts.duration is not None:
            total_units = sum(n for _, n, _ in chunks)
            frames_per_unit = opts.duration * frame_rate / total_units
        pieces = []
        for j, (tokens, n, words) in enumerate(chunks):
            if opts.duration is not None:
                new = max(1, round(n * frames_per_unit))
            else:
                new = rule.frames(ref.text, ref.frames, words, opts.speed, frame_rate)
            ids = self.tokenizer.ids(ref.tokens + [WORD_BOUNDARY] + tokens)
            if len(ids) > ref.frames + new:
                logger.warning("text %d chunk %d: %d frames are fewer than its text tokens; the end of the "
                               "text will be cut", text_index, j, new)
            pieces.append(Piece(text_index, j, ids, ref.frames + new, words))
        return pieces

    def _chunks(self, text: str, max_units: int) -> list[tuple[list[str], int, str]]:
        """A normalised text → `(tokens, units, text)` chunks: sentences packed up to `max_units`, a longer
        sentence split at commas, then words."""
        chunks: list[tuple[list[str], int, str]] = []
        for sentence in split_sentences(text):
            tokens = self.tokenizer.tokenize(sentence)
            units = self.tokenizer.count_units(tokens)
            if units > max_units:
                max_words = max(1, len(sentence.split()) * max_units // units)
                parts = [(self.tokenizer.tokenize(s), s) for s in split_long(sentence, max_words)]
            else:
                parts = [(tokens, sentence)]
            for part, words in parts:
                n = self.tokenizer.count_units(part)
                if chunks and chunks[-1][1] + n <= max_units:
                    chunks[-1] = (chunks[-1][0] + [WORD_BOUNDARY] + part, chunks[-1][1] + n, f"{chunks[-1][2]} {words}")
                else:
                    chunks.append((part, n, words))
        return chunks

    def noise(self, seed: int, pieces: Sequence[Piece], index: int, dim: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed + pieces[index].chunk_index)
        return torch.randn(pieces[index].length, dim, generator=gen)

    def decode(self, latent: torch.Tensor, lengths: torch.Tensor,
               batch: Sequence[tuple[Reference, Piece]]) -> list[torch.Tensor]:
        # The decoder continues from what it kept of the prompt: real context at the seam, without decoding the
        # prompt's frames again (codec.streaming; its error against a whole decode is in the README).
        return [wav / ref.gain for wav, (ref, _) in zip(self.decode_new(latent, lengths, batch), batch)]

    def join(self, wavs: list[torch.Tensor], opts: SynthesisOptions) -> torch.Tensor:
        return crossfade_join(wavs, self.codec.sample_rate, self.crossfade(opts))

    def finish(self, wav: torch.Tensor, opts: SynthesisOptions) -> torch.Tensor:
        return trim_silence(wav, self.codec.sample_rate) if self.trims(opts) else wav
