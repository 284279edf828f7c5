"""Decode only what is new: the speech after a prompt, and audio pushed out as its frames arrive.

    state = prompt_state(codec, prompt_latent)           # once per reference: what the decoder needs of it
    wav = decode_tail(codec, state, new_latent)          # = codec.decode(prompt + new)[0, P·hop:], within error
    stream = IncrementalDecoder(codec, state)            # or: audio as frames come
    wav = stream.push(frames)                            # audio of the frames whose look-ahead has come
    wav = stream.push(more, final=True)                  # the rest

How each codec does it (chosen by `codec.kind`, which a checkpoint records):

- WavCube (`"wavcube"`): its 50 Hz transformer is causal, so new frames run through it alone,
  attending to the cached keys and values of every frame before (`WavCubeDecoder.extend`): exactly
  the whole decode's transformer output. The upsampler's GroupNorm normalises with the statistics
  of every frame so far (at the final push: the whole clip's, as a whole decode does); before that
  the frames still to come are missing from them. The vocoder (windowed attention) and the ISTFT
  run on a window: `context` frames before the first emitted and up to `lookahead` frames after
  the last (`WavCubeDecoder.render`). A prompt's state holds its keys and values (24 layers × 2 ×
  1024 values a frame: 9.8 MB per second of prompt in float32) and `context + 1` transformer outputs.
- Any other codec (the mel codec's Vocos, Griffin-Lim): the decoder is re-run on the latent
  window [first emitted − context, newest); Vocos's ConvNeXt has a finite reach, so with
  `context_frames` and `lookahead_frames` at the codec's defaults the window's samples are the
  whole decode's. The state of a prompt is its last `context` frames.

Errors against a whole decode, by context and look-ahead, are measured by `python -m
eval.bench_streaming` and stated in the README ("Streaming and shortened decode"). A push costs the
new frames plus `context + lookahead` frames of vocoder, whatever the length of the stream so far.
Samples line up with a whole decode's: frame j's audio is `wav[j·hop : (j + 1)·hop]` in both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .decoder import DecoderCache
from .interface import Codec


@dataclass(frozen=True)
class PromptState:
    """What a codec's decoder keeps of a prompt, to decode what follows it: its length, the context kept, and
    either the WavCube decoder's cache or (other codecs) the prompt's last `context` latent frames `(K, D)`."""

    frames: int
    context: int
    cache: DecoderCache | None = None
    latent: torch.Tensor | None = None


def _cached(codec: Codec) -> bool:
    """Whether the codec continues a clip from a decoder cache (WavCube's causal decoder) rather than a window."""
    return codec.kind == "wavcube" and codec.decoder.config.causal  # type: ignore[attr-defined]


@torch.inference_mode()
def prompt_state(codec: Codec, prompt: torch.Tensor, context: int | None = None) -> PromptState:
    """`prompt: (P, D)` latent → the state to decode its continuations from, with `context` frames of vocoder
    context (default `codec.context_frames`). WavCube runs the prompt through its transformer once (the cost
    of decoding P frames, less the vocoder): keep the state with the prepared reference."""
    context = codec.context_frames if context is None else context
    if context < 0:
        raise ValueError(f"context must be >= 0 frames, got {context}")
    if prompt.dim() != 2 or prompt.shape[1] != codec.latent_dim:
        raise ValueError(f"expected a prompt of shape (P, {codec.latent_dim}), got {tuple(prompt.shape)}")
    p = prompt.shape[0]
    if _cached(codec):
        return PromptState(p, context, cache=codec.extend_cache(None, prompt, context + 1))  # type: ignore[attr-defined]
    return PromptState(p, context, latent=prompt[p - min(context, p):].to(codec.device, torch.float32))


class IncrementalDecoder:
    """Audio out as latent frames come in, after a prompt whose own audio is not wanted.

    `prompt`: a `PromptState`, or a prompt latent `(P, D)` (its state is made here), or None (no prompt).
    A push emits every frame that has `lookahead` frames after it (default `codec.lookahead_frames`); the
    final push emits the rest. The emitted audio, concatenated, lines up sample for sample with a whole
    decode of prompt + frames, from the prompt's end on.
    """

    def __init__(self, codec: Codec, prompt: PromptState | torch.Tensor | None = None, context: int | None = None,
                 lookahead: int | None = None):
        self.codec = codec
        if prompt is None:
            prompt = torch.zeros(0, codec.latent_dim)
        if isinstance(prompt, torch.Tensor):
            prompt = prompt_state(codec, prompt, context)
        elif context is not None and context != prompt.context:
            raise ValueError(f"the prompt state keeps {prompt.context} frames of context, not {context}")
        self.context = prompt.context
        self.lookahead = codec.lookahead_frames if lookahead is None else lookahead
        if self.lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 frames, got {self.lookahead}")
        self.emitted = prompt.frames  # frames before this one have had their audio (the prompt's is not wanted)
        self.total = prompt.frames  # frames pushed, the prompt's included
        self._cache = prompt.cache
        self._latent = prompt.latent  # window strategy: frames [total - K, total)
        self.finished = False

    @property
    def pending(self) -> int:
        """Frames pushed whose audio is held back, waiting for their look-ahead."""
        return self.total - self.emitted

    @torch.inference_mode()
    def push(self, frames: torch.Tensor, final: bool = False) -> torch.Tensor:
        """`frames: (n, D)` (n may be 0) → the waveform of the frames that became ready, `(k · hop,)` float32 on
        the codec's device; with `final`, of every frame left. No push after the final one."""
        if self.finished:
            raise RuntimeError("this stream was finished by a final push")
        if frames.dim() != 2 or frames.shape[1] != self.codec.latent_dim:
            raise ValueError(f"expected frames of shape (n, {self.codec.latent_dim}), got {tuple(frames.shape)}")
        total = self.total + frames.shape[0]
        end = total if final else max(self.emitted, total - self.lookahead)
        first = max(0, self.emitted - self.context)  # the first frame the decoder needs
        if self._cache is not None:
            # Keep the transformer outputs from the one before `first` (the upsampling conv's left neighbour).
            keep = total - max(0, first - 1)
            self._cache = self.codec.extend_cache(self._cache, frames, keep)  # type: ignore[attr-defined]
            wav = (self.codec.render_cache(self._cache, self.emitted, end, final)  # type: ignore[attr-defined]
                   if end > self.emitted else self._cache.hidden.new_zeros(0))
        else:
            kept = frames.to(self.codec.device, torch.float32)
            if self._latent is not None:
                kept = torch.cat([self._latent, kept])
            self._latent = kept  # frames [total - K, total)
            a = max(first, total - kept.shape[0])
            if end > self.emitted:
                hop = self.codec.hop_length
                wav = self.codec.decode(kept[None, a - (total - kept.shape[0]):])[0]  # ((total - a) · hop,)
                wav = wav[(self.emitted - a) * hop: (end - a) * hop].float()
            else:
                wav = kept.new_zeros(0)
        self.total, self.emitted, self.finished = total, end, final
        self._trim()
        return wav

    def _trim(self) -> None:
        """Drop what no later push needs: frames (or transformer outputs) before the next context."""
        first = max(0, self.emitted - self.context)
        if self._cache is not None:
            keep = self.total - max(0, first - 1)
            if self._cache.hidden.shape[0] > keep:
                self._cache = dataclasses.replace(self._cache, hidden=self._cache.hidden[-keep:])
        elif self._latent is not None:
            self._latent = self._latent[max(0, self._latent.shape[0] - (self.total - first)):]


def decode_tail(codec: Codec, prompt: PromptState | torch.Tensor, new: torch.Tensor,
                context: int | None = None) -> torch.Tensor:
    """The waveform of `new: (n, D)` after a prompt (its `PromptState`, or its latent `(P, D)`), `(n · hop,)`
    float32 on the codec's device: what `codec.decode(cat(prompt, new))[0, P · hop:]` gives, within the
    codec's stated error, at the cost of decoding the new frames and `context` frames of vocoder."""
    return IncrementalDecoder(codec, prompt, context, lookahead=0).push(new, final=True)
