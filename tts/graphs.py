"""Fast sampling on CUDA: the DiT's velocity with bf16 weights, replayed from CUDA graphs per padded shape.

At batch 1 a DiT step is hundreds of small kernels, and launching them costs as much as running
them: 32 steps take as long for 750 frames as for 1400. A CUDA graph launches a captured step as
one unit. A graph holds fixed shapes, so requests are padded up to a few buckets (frames to a
multiple of `FRAME_BUCKET`, the batch to a power of two); the DiT masks padding frames out of every
convolution, normalisation and attention, so padding changes no real frame (`sample` below; tests
check it equals the plain path).

Precision: the DiT's weights and activations are bf16; the text embedding (computed once per call),
the ODE state, the CFG combination and the rotary angles stay float32. Against the plain float32
path the latents differ by bf16 rounding: the stated tolerance is 5 % relative L2 error
(tests/tts/test_graphs.py, on CUDA); bucket padding alone changes nothing beyond float32 rounding
(1e-5, tested on CPU).
"""
from __future__ import annotations

import copy
import logging
import threading
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .dit import DiT

logger = logging.getLogger(__name__)

FRAME_BUCKET = 128  # 1500 frames (15 s prompt + 15 s piece at 50 Hz) need at most 12 graphs per batch size


def bucket_frames(n: int, step: int = FRAME_BUCKET) -> int:
    """The padded frame count for `n` frames: the next multiple of `step`."""
    if n < 1:
        raise ValueError(f"frame count must be positive, got {n}")
    return -(-n // step) * step


def bucket_batch(b: int) -> int:
    """The padded batch size for `b` items: the next power of two."""
    if b < 1:
        raise ValueError(f"batch size must be positive, got {b}")
    return 1 << (b - 1).bit_length()


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    inputs: tuple[torch.Tensor, ...]  # static buffers, refilled before each replay
    output: torch.Tensor


class GraphedVelocity:
    """A drop-in for `DiT.velocity` on CUDA: a bf16 copy of the DiT, one CUDA graph per input shape.

    `__call__(x, cond, text_h, time, mask, drop_audio) -> (B, N, D) float32`, with `DiT.velocity`'s
    shapes. The first call at a new shape captures its graph (two eager runs, then the capture);
    later calls copy their inputs into the graph's buffers and replay it. Where capture fails, it
    says so once in the log and runs the bf16 DiT eagerly from then on. `refresh()` recopies the
    weights if the float32 DiT changed since (graphs stay valid: they read the same bf16 buffers).
    """

    def __init__(self, dit: DiT, capture: bool = True):
        device = next(dit.parameters()).device
        if device.type != "cuda":
            raise ValueError(f"GraphedVelocity needs a DiT on a CUDA device, got one on {device}")
        self.source, self.device = dit, device
        with torch.inference_mode(False):  # plain tensors, so that refresh() may copy into them anywhere
            self.dit = copy.deepcopy(dit).to(torch.bfloat16).eval().requires_grad_(False)
        self.capture = capture
        self._graphs: dict[tuple, _Graph] = {}
        self._pool = torch.cuda.graph_pool_handle()  # one memory pool: graphs replay one at a time
        self._lock = threading.Lock()  # app workers may sample from several threads
        self._version = self._source_version()

    def _source_version(self) -> int:
        """Changes whenever a float32 weight is modified in place (an optimizer step, load_state_dict).
        Weights made under inference_mode keep no version: they are taken as fixed."""
        return sum(p._version for p in self.source.parameters() if not p.is_inference())

    def refresh(self) -> None:
        version = self._source_version()
        if version != self._version:
            with self._lock, torch.no_grad():
                for p16, p32 in zip(self.dit.parameters(), self.source.parameters()):
                    p16.copy_(p32)
            self._version = version

    def _eager(self, x: torch.Tensor, cond: torch.Tensor, text_h: torch.Tensor, time: torch.Tensor,
               mask: torch.Tensor, drop_audio: torch.Tensor) -> torch.Tensor:
        bf16 = torch.bfloat16
        return self.dit.velocity(x.to(bf16), cond.to(bf16), text_h.to(bf16), time.float(), mask,
                                 drop_audio).float()

    def __call__(self, x: torch.Tensor, cond: torch.Tensor, text_h: torch.Tensor, time: torch.Tensor,
                 mask: torch.Tensor, drop_audio: torch.Tensor) -> torch.Tensor:
        args = (x, cond, text_h, time, mask, drop_audio)
        # Autocast would cast around the bf16 weights and differ between capture and replay: off.
        with self._lock, torch.autocast("cuda", enabled=False):
            if not self.capture:
                return self._eager(*args)
            key = tuple((a.shape, a.dtype) for a in args)
            entry = self._graphs.get(key)
            if entry is None:
                try:
                    entry = self._graphs[key] = self._capture(args)
                except RuntimeError as err:  # e.g. an op that cannot be captured on this build
                    logger.warning("CUDA graph capture failed (%s); the DiT runs in bf16 without graphs", err)
                    self.capture = False
                    return self._eager(*args)
            for buf, a in zip(entry.inputs, args):
                buf.copy_(a)
            entry.graph.replay()
            return entry.output.clone()  # the buffer is overwritten by the next replay

    def _capture(self, args: tuple[torch.Tensor, ...]) -> _Graph:
        inputs = tuple(a.clone() for a in args)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the main stream, as capture requires
            for _ in range(2):
                self._eager(*inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: handler threads may run the codec on the GPU while the worker captures.
        with torch.cuda.graph(graph, pool=self._pool, capture_error_mode="thread_local"):
            output = self._eager(*inputs)
        logger.info("captured a CUDA graph for DiT inputs %s", [tuple(a.shape) for a in args[:1]])
        return _Graph(graph, inputs, output)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """The `x` shapes that have a captured graph."""
        return [tuple(key[0][0]) for key in self._graphs]


def pad_to_buckets(prompt: torch.Tensor, prompt_lengths: torch.Tensor, text: torch.Tensor, lengths: torch.Tensor,
                   noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`TTSModel.sample`'s inputs padded to `bucket_batch(B)` items of `bucket_frames(N)` frames.

    Extra items repeat the last one; extra frames of `noise` are zero and lie past every length, so
    the mask hides them. Returns `(prompt, prompt_lengths, text, lengths, noise)`.
    """
    B, N, _ = noise.shape
    extra = bucket_batch(B) - B

    def grow(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([t, t[-1:].expand(extra, *t.shape[1:])]) if extra else t

    noise = F.pad(noise, (0, 0, 0, bucket_frames(N) - N))  # (B, N_b, D)
    return grow(prompt), grow(prompt_lengths), grow(text), grow(lengths), grow(noise)


def sample(model, prompt: torch.Tensor, prompt_lengths: torch.Tensor, text: torch.Tensor, lengths: torch.Tensor,
           noise: torch.Tensor, velocity=None, **options) -> torch.Tensor:
    """`model.sample` on inputs padded to the buckets, cut back: `(B, N, D)` as the plain call gives.

    `velocity` (e.g. a `GraphedVelocity`) replaces `model.dit.velocity`; `options` are sample's own.
    """
    B, N, _ = noise.shape
    if isinstance(velocity, GraphedVelocity):
        velocity.refresh()
    padded = pad_to_buckets(prompt, prompt_lengths, text, lengths, noise)
    return model.sample(*padded, velocity=velocity, **options)[:B, :N]


_logged: set[str] = set()
# One runner per model, held beside it rather than on it: a runner is no submodule (it must stay out
# of state_dict and `.to()`) and cannot be deep-copied (EMA copies the model).
_runners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fast_velocity(model) -> GraphedVelocity | None:
    """The graphed bf16 velocity of a model on CUDA, built at the first call; None on other devices,
    whose fast path is the plain float32 one (said once in the log)."""
    device = next(model.parameters()).device
    if device.type != "cuda":
        if device.type not in _logged:
            _logged.add(device.type)
            logger.info("CUDA graphs and bf16 weights apply on CUDA only: sampling on %s in float32", device)
        return None
    runner = _runners.get(model)
    if runner is None or runner.source is not model.dit or runner.device != device:
        runner = _runners[model] = GraphedVelocity(model.dit)
    return runner
