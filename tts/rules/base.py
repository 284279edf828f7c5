"""What a family of models is driven by: the rules of each request stage, as one object.

A model's config records the name of its rules (`TTSConfig.rules`); `Synthesizer` asks them how to
prepare the reference, plan the text into pieces (chunks, their frames and token ids), draw each
piece's noise, decode the sampled latents, join the pieces and finish the waveform. cubetts' own
models follow `CubeRules` (tts/rules/cubetts.py), F5-TTS's models `F5Rules` (tts/rules/f5.py).
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from codec import Codec
from codec.masks import length_mask
from codec.streaming import decode_tails, prompt_state

from ..duration import DurationRule
from ..options import SynthesisOptions
from ..text import TextError, Tokenizer

logger = logging.getLogger(__name__)
# (mono float waveform (T,), its sample rate) → its transcript.
Transcriber = Callable[[torch.Tensor, int], str]
MIN_REF_SECONDS = 1.0  # less than a second of speech says too little about a voice


@dataclass(frozen=True)
class Reference:
    """The prompt, prepared by a model's rules: its waveform `wav: (T,)` at the codec's rate as it was
    encoded (loudness raised by `gain`), its latent `(P, D)`, its transcript `text` as the model reads it
    and that text's `tokens`; `frames` and `units` are the prompt's length and text length as the rules
    count them in durations, `seconds` its length as they size chunks by."""

    wav: torch.Tensor
    latent: torch.Tensor
    text: str
    tokens: list[str]
    frames: int
    units: int
    seconds: float
    gain: float = 1.0
    # What the codec's decoder keeps of the prompt (codec.streaming.PromptState), made at its first decode and
    # kept with the reference, so its frames are not decoded again.
    decoder: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Piece:
    """One chunk of one input text, sampled in one pass: `ids` (prompt transcript + chunk, as the model
    reads them), `length` frames in all (prompt + new), `text` the chunk as written."""

    text_index: int
    chunk_index: int
    ids: list[int]
    length: int
    text: str


class Rules(ABC):
    """The stages of a request for one family of models; the defaults of the options they own."""

    name: ClassVar[str]
    # What SynthesisOptions leaves to the rules (None there): each family's own defaults, read through
    # `ref_limit`, `crossfade` and `trims`.
    max_ref_seconds: ClassVar[float]
    crossfade_seconds: ClassVar[float]
    remove_silence: ClassVar[bool]
    blank_text_means_asr: ClassVar[bool] = False  # F5-TTS transcribes a blank transcript; ours refuses it

    def __init__(self, tokenizer: Tokenizer, codec: Codec, duration: DurationRule | None = None):
        self.tokenizer = tokenizer
        self.codec = codec
        self.duration = duration  # the model's duration rule (TTSConfig.duration_rule), where the rules use one

    def ref_limit(self, opts: SynthesisOptions) -> float:
        return self.max_ref_seconds if opts.max_ref_seconds is None else opts.max_ref_seconds

    def crossfade(self, opts: SynthesisOptions) -> float:
        return self.crossfade_seconds if opts.crossfade_seconds is None else opts.crossfade_seconds

    def trims(self, opts: SynthesisOptions) -> bool:
        return self.remove_silence if opts.remove_silence is None else opts.remove_silence

    def duration_for(self, ref: Reference, new_seconds: float) -> float:
        """The `duration` option that asks for `new_seconds` of new speech after `ref` (what it means here)."""
        return new_seconds

    def transcript(self, ref_text: str | None, wav: torch.Tensor, sample_rate: int, transcribe: Transcriber) -> str:
        """The prompt's transcript as the model reads it (`tokenizer.normalize`): `ref_text`, or, when it is None
        (F5-TTS's rules: or blank), what the ASR hears in the prepared clip `wav`."""
        if ref_text is None or (self.blank_text_means_asr and not ref_text.strip()):
            ref_text = transcribe(wav, sample_rate)
            logger.info("reference transcript (ASR): %r", ref_text)
            if not ref_text.strip():
                raise TextError("the ASR heard no words in the reference; pass ref_text", "ref_text")
        try:
            return self.tokenizer.normalize(ref_text)
        except TextError as err:
            raise TextError(f"ref_text: {err}", "ref_text") from None

    @abstractmethod
    def prepare_reference(self, wav: torch.Tensor, sample_rate: int, ref_text: str | None,
                          opts: SynthesisOptions, transcribe: Transcriber) -> Reference:
        """A checked mono reference `wav: (T,)` at `sample_rate` (any rate) → the prepared prompt. Raises
        AudioError or TextError for a reference that cannot be used."""

    @abstractmethod
    def plan(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        """A normalised text (`tokenizer.normalize`'s output) → its pieces, in order."""

    @abstractmethod
    def noise(self, seed: int, pieces: Sequence[Piece], index: int, dim: int) -> torch.Tensor:
        """The starting noise `(pieces[index].length, dim)` of one piece of a text whose pieces are `pieces`,
        drawn from `seed` on the CPU (the same on any device)."""

    @abstractmethod
    def decode(self, latent: torch.Tensor, lengths: torch.Tensor,
               batch: Sequence[tuple[Reference, Piece]]) -> list[torch.Tensor]:
        """Sampled latents `(B, N, D)` (prompts in front), valid up to `lengths: (B,)` → each piece's new
        speech `(T_i,)` on the CPU, at the reference's original loudness."""

    @abstractmethod
    def join(self, wavs: list[torch.Tensor], opts: SynthesisOptions) -> torch.Tensor:
        """One text's pieces `[(T_i,)]` → one waveform `(T,)`."""

    @abstractmethod
    def finish(self, wav: torch.Tensor, opts: SynthesisOptions) -> torch.Tensor:
        """A text's joined waveform → what the caller gets (e.g. silence removed)."""

    def decode_new(self, latent: torch.Tensor, lengths: torch.Tensor,
                   batch: Sequence[tuple[Reference, Piece]]) -> list[torch.Tensor]:
        """Each item's frames after its prompt, decoded with what the decoder kept of the prompt
        (`codec.streaming.decode_tails`, one decoder call for the batch: the prompt's frames are not decoded
        again)."""
        for ref, _ in batch:
            if "state" not in ref.decoder:
                ref.decoder["state"] = prompt_state(self.codec, ref.latent.to(latent.device))
        news = [latent[i, ref.latent.shape[0]: int(lengths[i])] for i, (ref, _) in enumerate(batch)]
        return [wav.cpu() for wav in decode_tails(self.codec, [ref.decoder["state"] for ref, _ in batch], news)]

    def decode_all(self, latent: torch.Tensor, lengths: torch.Tensor, starts: Sequence[int]) -> list[torch.Tensor]:
        """Decode each item's frames `[0, lengths[i])` in one codec call, then keep frames `[starts[i], ...)`."""
        mask = length_mask(lengths, latent.shape[1])
        wav = self.codec.decode(latent, mask).cpu()  # (B, N * hop)
        hop = self.codec.hop_length
        return [wav[i, start * hop: int(lengths[i]) * hop] for i, start in enumerate(starts)]
