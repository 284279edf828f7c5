"""Shortened and streamed decoding against a whole decode: error and time, by context and look-ahead.

    python -m eval.bench_streaming                          # tiny and full-size codecs, random weights, CPU
    python -m eval.bench_streaming --codecs wavcube-base --codec-path path/or/hub-id   # a trained WavCube

Protocol: a `--prompt-seconds` prompt followed by `--seconds` of new speech (two recordings of one
LibriSpeech speaker, shared/testdata/realspeech), as one latent. The reference is the whole decode of
prompt + new, from the prompt's end on. Shortened ("tail"): `prompt_state` of the prompt keeping
`context` frames, then `decode_tail` of the new frames. Streamed: the same state, then the new
frames `--push` at a time through an `IncrementalDecoder` holding back `lookahead` frames (the last
push final). Errors over the new speech's samples: relative L2 (‖ours − whole‖ / ‖whole‖) and the
largest absolute difference over the whole's largest absolute sample ("max/peak"). Times: the prompt
state, the tail, the median push (CPU: one thread; each after a warm-up decode).

Latents: the mel codec's are its own (F5-TTS's log-mel of real speech); WavCube's are a stand-in
with speech's time structure, the clip's 128-bin log-mel at 50 Hz standardised per bin, since the
random-weight encoder's latents have none. Random weights (`--codec-path` loads trained ones): how
far each output frame's dependence reaches is a property of trained weights, so the figures for a
trained codec may differ; they are the ones to set `context_frames` / `lookahead_frames` by.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torchaudio

from codec import DecoderConfig, EncoderConfig, MelCodec, WavCube, WavCubeConfig, load_audio, open_codec
from codec.audio import resample
from codec.interface import Codec
from codec.streaming import IncrementalDecoder, decode_tail, prompt_state
from eval.timing import sync

TESTDATA = Path(os.environ.get("CUBETTS_TESTDATA", Path(__file__).resolve().parents[2] / "shared" / "testdata"))
# One speaker (LibriSpeech dev-clean 2412, one chapter), as a prompt and the speech that continues it are.
CLIPS = ("librispeech_dev_clean/2412-153948-0002.flac", "librispeech_dev_clean/2412-153948-0000.flac")


def build(name: str, path: str | None = None) -> Codec:
    """`wavcube-tiny`, `wavcube-base` (the released decoder's size; the encoder is tiny, it is not timed),
    `vocos-tiny` (the tests' one-layer Vocos), `vocos-base` (charactr/vocos-mel-24khz's size); random
    weights (seed 0) unless `path` names a checkpoint; `griffin-lim`, the mel codec's fallback decoder."""
    torch.manual_seed(0)
    if path is not None:
        return open_codec(path).eval()
    if name == "wavcube-tiny":
        return WavCube(WavCubeConfig.tiny()).eval()
    if name == "wavcube-base":
        return WavCube(WavCubeConfig(encoder=EncoderConfig.tiny(), decoder=DecoderConfig.base())).eval()
    from eval.bench_tts import random_mel_codec
    if name == "vocos-base":
        return random_mel_codec().eval()
    if name == "vocos-tiny":
        return random_mel_codec(dim=16, intermediate_dim=32, num_layers=1).eval()  # the tests' tiny Vocos
    if name == "griffin-lim":
        return MelCodec.griffin_lim()
    raise ValueError(f"unknown codec {name!r}")


def speech(seconds: float, clip: str, sample_rate: int) -> torch.Tensor:
    """`seconds` of a real speech clip (repeated if short) at `sample_rate`: `(T,)`. Where the clip is not on
    this machine (a clone without ../shared), harmonic bursts stand in for it, and the run says so."""
    path = TESTDATA / "realspeech" / clip
    if not path.is_file():
        print(f"note: {path} not found: harmonic bursts stand in for speech (figures not comparable)",
              file=sys.stderr)
        t = torch.arange(int(seconds * sample_rate)) / sample_rate
        wav = sum(torch.sin(2 * torch.pi * k * 140 * t) / k for k in range(1, 6)) * 0.2 * ((t % 0.25) < 0.2)
        return wav.float()
    wav, sr = load_audio(path)
    wav = resample(wav.mean(0) if wav.dim() == 2 else wav, sr, sample_rate)
    n = int(seconds * sample_rate)
    return wav.repeat(n // len(wav) + 1)[:n]


def stand_in_latent(codec: Codec, wav: torch.Tensor) -> torch.Tensor:
    """`wav: (T,)` at the codec's rate → `(N, latent_dim)`: the codec's own latent for the mel codec; for
    WavCube a standardised log-mel with as many bins as latent dimensions, one frame per hop."""
    if isinstance(codec, MelCodec):
        return codec.encode(wav, codec.sample_rate)[0][0].cpu()
    mel = torchaudio.transforms.MelSpectrogram(codec.sample_rate, n_fft=1024, hop_length=codec.hop_length,
                                               n_mels=codec.latent_dim, center=False)(wav)  # (D, N)
    n = (len(wav) - 400) // codec.hop_length + 1
    logmel = torch.nn.functional.pad(mel, (0, max(0, n - mel.shape[1])))[:, :n].clamp(min=1e-5).log().T  # (N, D)
    return (logmel - logmel.mean(0)) / (logmel.std(0) + 1e-5)


def errors(ours: torch.Tensor, whole: torch.Tensor) -> dict:
    assert ours.shape == whole.shape, (ours.shape, whole.shape)
    diff = (ours - whole).abs()
    return {"rel_l2": float(diff.norm() / whole.norm()), "max_over_peak": float(diff.max() / whole.abs().max())}


def stream(codec: Codec, prompt: torch.Tensor, new: torch.Tensor, push: int, context: int | None,
           lookahead: int | None) -> tuple[torch.Tensor, list[float]]:
    """The concatenated pushes (on the CPU) and each push's seconds."""
    dec = IncrementalDecoder(codec, prompt, context, lookahead)
    parts, times = [], []
    for i in range(0, new.shape[0], push):
        t = time.perf_counter()
        parts.append(dec.push(new[i: i + push], final=i + push >= new.shape[0]))
        sync(codec.device)
        times.append(time.perf_counter() - t)
    return torch.cat(parts).cpu(), times


def run(codec: Codec, name: str, args: argparse.Namespace) -> dict:
    sr, hop = codec.sample_rate, codec.hop_length
    prompt_wav, new_wav = speech(args.prompt_seconds, CLIPS[0], sr), speech(args.seconds, CLIPS[1], sr)
    latent = stand_in_latent(codec, torch.cat([prompt_wav, new_wav]))
    codec = codec.to(args.device)
    latent = latent.to(args.device)
    p = round(args.prompt_seconds * codec.frame_rate)
    with torch.inference_mode():
        codec.decode(latent[None, :50])  # warm-up
        sync(codec.device)
        t = time.perf_counter()
        whole = codec.decode(latent[None])[0, p * hop:].cpu()
    whole_s = time.perf_counter() - t
    out = {"codec": name, "prompt_frames": p, "new_frames": latent.shape[0] - p, "frame_rate": codec.frame_rate,
           "whole_decode_s": whole_s, "tail": [], "stream": []}
    print(f"{name}: prompt {p} frames + {latent.shape[0] - p} new at {codec.frame_rate:g} Hz; whole decode "
          f"{whole_s:.2f} s")
    for context in sorted(set(args.context) | {codec.context_frames}):
        t = time.perf_counter()
        state = prompt_state(codec, latent[:p], context)
        sync(codec.device)
        t_state = time.perf_counter() - t
        tail = decode_tail(codec, state, latent[p:]).cpu()
        r = {"context": context, "prompt_state_s": t_state, "tail_s": time.perf_counter() - t - t_state,
             **errors(tail, whole)}
        out["tail"].append(r)
        print(f"  tail   context {context:>4}: rel L2 {r['rel_l2']:.2e}  max/peak {r['max_over_peak']:.2e}  "
              f"prompt state {t_state:.2f} s, tail {r['tail_s']:.2f} s")
    contexts = args.stream_context or [codec.context_frames]
    for context in contexts:
        for lookahead in sorted(set(args.lookahead) | {codec.lookahead_frames}):
            wav, times = stream(codec, latent[:p], latent[p:], args.push, context, lookahead)
            r = {"context": context, "lookahead": lookahead, "push": args.push,
                 "push_ms": 1000 * statistics.median(times), **errors(wav, whole)}
            out["stream"].append(r)
            print(f"  stream context {context:>4} lookahead {lookahead:>3} push {args.push}: rel L2 "
                  f"{r['rel_l2']:.2e}  max/peak {r['max_over_peak']:.2e}  {r['push_ms']:.0f} ms per push")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codecs", nargs="+", default=["wavcube-tiny", "vocos-tiny", "vocos-base", "wavcube-base"],
                   choices=("wavcube-tiny", "wavcube-base", "vocos-tiny", "vocos-base", "griffin-lim"))
    p.add_argument("--codec-path", help="a trained codec (path or hub id) instead of random weights (one codec)")
    p.add_argument("--prompt-seconds", type=float, default=3.0)
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of new speech")
    p.add_argument("--context", type=int, nargs="+", default=[0, 5, 10, 20, 40, 80, 150],
                   help="decode_tail: frames of context before the new speech (the codec's default is added)")
    p.add_argument("--stream-context", type=int, nargs="+", help="stream: context frames (default the codec's)")
    p.add_argument("--lookahead", type=int, nargs="+", default=[0, 5, 10, 20, 40],
                   help="stream: look-ahead frames (the codec's default is added)")
    p.add_argument("--push", type=int, default=25, help="stream: frames per push")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = [run(build(name, args.codec_path), name, args) for name in args.codecs]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "threads": args.threads,
                                         "device": args.device, "results": results}, indent=1))


if __name__ == "__main__":
    main()
