"""Decode only what is new: the speech after a prompt, and audio pushed out as its frames arrive.

    state = prompt_state(codec, prompt_latent)           # once per reference: what the decoder needs of it
    wav = decode_tail(codec, state, new_latent)          # = codec.decode(prompt + new)[0, P·hop:], within error
    stream = IncrementalDecoder(codec, state)            # or: audio as frames come
    wav = stream.push(frames)                            # audio of the frames whose look-ahead has come
    wav = stream.push(more, final=True)                  # the rest
    wavs = decode_tails(codec, states, new_latents)      # several clips, one decoder pass
    wavs = push_together(streams, frames, finals)        # several streams (requests), one decoder pass

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
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from .decoder import DecoderCache
from .interface import Codec
from .masks import length_mask


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
        cache = codec.extend_cache([None], [prompt], [context + 1])[0]  # type: ignore[attr-defined]
        return PromptState(p, context, cache=cache)
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
        self._latent = prompt.latent  # other codecs: the latent frames [total - K, total)
        self.finished = False

    @property
    def pending(self) -> int:
        """Frames pushed whose audio is held back, waiting for their look-ahead."""
        return self.total - self.emitted

    def push(self, frames: torch.Tensor, final: bool = False) -> torch.Tensor:
        """`frames: (n, D)` (n may be 0) → the waveform of the frames that became ready, `(k · hop,)` float32 on
        the codec's device; with `final`, of every frame left. No push after the final one."""
        return push_together([self], [frames], [final])[0]

    def _trim(self) -> None:
        """Drop what no later push needs: frames (or transformer outputs) before the next context."""
        first = max(0, self.emitted - self.context)
        if self._cache is not None:
            keep = self.total - max(0, first - 1)
            if self._cache.hidden.shape[0] > keep:
                self._cache = dataclasses.replace(self._cache, hidden=self._cache.hidden[-keep:])
        elif self._latent is not None:
            self._latent = self._latent[max(0, self._latent.shape[0] - (self.total - first)):]


@torch.inference_mode()
def push_together(streams: Sequence[IncrementalDecoder], frames: Sequence[torch.Tensor],
                  finals: Sequence[bool]) -> list[torch.Tensor]:
    """`streams[i].push(frames[i], finals[i])` for streams of one codec, in one decoder pass (a batch of
    requests): the samples each push alone gives, within float rounding."""
    codec = streams[0].codec
    if any(s.codec is not codec for s in streams) or not len(streams) == len(frames) == len(finals):
        raise ValueError("push_together takes streams of one codec, each with its frames and final flag")
    for s, f in zip(streams, frames):
        if s.finished:
            raise RuntimeError("this stream was finished by a final push")
        if f.dim() != 2 or f.shape[1] != codec.latent_dim:
            raise ValueError(f"expected frames of shape (n, {codec.latent_dim}), got {tuple(f.shape)}")
    totals = [s.total + len(f) for s, f in zip(streams, frames)]
    ends = [t if final else max(s.emitted, t - s.lookahead) for s, t, final in zip(streams, totals, finals)]
    firsts = [max(0, s.emitted - s.context) for s in streams]  # the first frame each one's decoding needs
    ready = [i for i, (s, end) in enumerate(zip(streams, ends)) if end > s.emitted]
    wavs = [torch.zeros(0, device=codec.device) for _ in streams]
    if streams[0]._cache is not None:  # WavCube: the new frames through the transformer, a window of vocoder
        # Transformer outputs are kept from the one before `first` on (the upsampling conv's left neighbour).
        caches = codec.extend_cache([s._cache for s in streams], list(frames),  # type: ignore[attr-defined]
                                    [t - max(0, a - 1) for t, a in zip(totals, firsts)])
        for s, cache in zip(streams, caches):
            s._cache = cache
        if ready:
            out = codec.render_cache([caches[i] for i in ready], [streams[i].emitted for i in ready],  # type: ignore[attr-defined]
                                     [ends[i] for i in ready], [finals[i] for i in ready])
            for i, wav in zip(ready, out):
                wavs[i] = wav
    else:  # other codecs: a window of latent through the whole decoder, the windows as one padded batch
        for s, f in zip(streams, frames):
            s._latent = torch.cat([s._latent, f.to(codec.device, torch.float32)])  # type: ignore[list-item]
        kept = [t - len(s._latent) for s, t in zip(streams, totals)]  # type: ignore[arg-type]
        starts = [max(a, k) for a, k in zip(firsts, kept)]
        if ready:
            windows = [streams[i]._latent[starts[i] - kept[i]:] for i in ready]  # type: ignore[index]
            lengths = torch.tensor([len(w) for w in windows], device=codec.device)
            out = codec.decode(pad_sequence(windows, batch_first=True), length_mask(lengths, int(lengths.max())))
            hop = codec.hop_length
            for row, i in enumerate(ready):
                wavs[i] = out[row, (streams[i].emitted - starts[i]) * hop: (ends[i] - starts[i]) * hop].float()
    for s, t, end, final in zip(streams, totals, ends, finals):
        s.total, s.emitted, s.finished = t, end, final
        s._trim()
    return wavs


def decode_tails(codec: Codec, prompts: Sequence[PromptState | torch.Tensor], new: Sequence[torch.Tensor],
                 context: int | None = None) -> list[torch.Tensor]:
    """For each clip, the waveform of `new[i]: (n_i, D)` after its prompt (a `PromptState`, or a latent
    `(P_i, D)`), `(n_i · hop,)` float32 on the codec's device: what `codec.decode(cat(prompt, new))[0, P · hop:]`
    gives, within the codec's stated error, in one decoder pass over the new frames and `context` frames
    of vocoder context each."""
    streams = [IncrementalDecoder(codec, p, context, lookahead=0) for p in prompts]
    return push_together(streams, new, [True] * len(streams))


def decode_tail(codec: Codec, prompt: PromptState | torch.Tensor, new: torch.Tensor,
                context: int | None = None) -> torch.Tensor:
    """`decode_tails` of one clip."""
    return decode_tails(codec, [prompt], [new], context)[0]
