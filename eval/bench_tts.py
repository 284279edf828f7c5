"""TTS speed: real-time factor of `Synthesizer.synthesize`, and the DiT on latents vs on mel frames.

    python eval/bench_tts.py                                  # small preset on CPU, 10 s of speech
    python eval/bench_tts.py --preset base --device cuda      # the full-size model on a GPU
    python eval/bench_tts.py --preset base --device cuda --codec mel   # F5-TTS's setting: mel + Vocos

Random weights (no checkpoint): the cost of a forward pass does not depend on the weights. The output
length is fixed with `duration`, so every run generates exactly `--seconds` of speech after a
`--ref-seconds` prompt; the DiT processes prompt + new frames at every step. RTF = wall seconds /
seconds generated (lower is faster), split into the DiT (all velocity evaluations), the codec decoder,
and the rest (reference checks and encoding, G2P, noise, splicing). `--codec mel` runs the whole
synthesis on F5-TTS's latents: 100-bin mel at 93.75 Hz, decoded by a Vocos of charactr/vocos-mel-24khz's size.

The second table times the same DiT, NFE and CFG on the F5-TTS input, 100-bin mel frames at 93.75 Hz
(24 kHz, hop 256), for the same prompt and output seconds. Its ratio to the latent timing is the
speed advantage of 50 Hz latents for the DiT alone (the mel setting would also need a vocoder).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from codec import MelCodec, MelConfig, WavCube, WavCubeConfig  # noqa: E402
from codec.mel import VocosVocoder  # noqa: E402
from tts import Synthesizer, SynthesisOptions, TTSConfig, TTSModel  # noqa: E402

MEL_FRAME_RATE = 24000 / 256  # F5-TTS: 24 kHz audio, hop 256 → 93.75 Hz
MEL_BINS = 100
SENTENCES = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
             "The box was thrown beside the parked truck.", "Four hours of steady work faced us."]
WORDS_PER_SECOND = 2.7  # a calm reading pace: the text's length matches the seconds generated
REF_TEXT = "Rice is often served in round bowls, and the juice of lemons makes fine punch."


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_method(obj, name: str, totals: dict[str, float], key: str, device: torch.device) -> None:
    """Wrap `obj.name` so that its wall time accumulates in `totals[key]`."""
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        sync(device)
        start = time.perf_counter()
        out = inner(*args, **kwargs)
        sync(device)
        totals[key] += time.perf_counter() - start
        return out

    setattr(obj, name, wrapper)


def speechlike(seconds: float, sample_rate: int = 16000) -> torch.Tensor:
    """A harmonic tone in 0.2 s bursts: passes the reference checks (not silent, pauses are short)."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    wav = sum(torch.sin(2 * torch.pi * k * 140 * t) / k for k in range(1, 6)) * 0.2
    return (wav * ((t % 0.25) < 0.2)).float()


def vocos_mel_24khz() -> MelCodec:
    """A MelCodec with a random-weight Vocos of the released charactr/vocos-mel-24khz's sizes."""
    from vocos import Vocos
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    vocos = Vocos(MelSpectrogramFeatures(), VocosBackbone(input_channels=MEL_BINS, dim=512, intermediate_dim=1536,
                                                          num_layers=8), ISTFTHead(dim=512, n_fft=1024, hop_length=256))
    return MelCodec(MelConfig(), VocosVocoder(vocos))


def text_for(seconds: float) -> str:
    words, out = 0, list[str]()
    for sentence in SENTENCES * 100:
        if out and words + len(sentence.split()) > seconds * WORDS_PER_SECOND:
            break
        out.append(sentence)
        words += len(sentence.split())
    return " ".join(out)


def sample_once(model: TTSModel, frames: int, prompt_frames: int, opts: SynthesisOptions, device: torch.device) -> None:
    """One `model.sample` (all NFE steps, CFG included) over `frames` frames of random input."""
    D = model.config.dit.latent_dim
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(1, model.config.dit.text_vocab_size, (1, 200), generator=gen).to(device)
    prompt = torch.randn(1, prompt_frames, D, generator=gen).to(device)
    noise = torch.randn(1, frames, D, generator=gen).to(device)
    args = (prompt, torch.tensor([prompt_frames], device=device), text, torch.tensor([frames], device=device), noise)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):  # as Synthesizer
        model.sample(*args, nfe=opts.nfe, cfg=opts.cfg, sway=opts.sway, solver=opts.solver, schedule=opts.schedule)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("base", "small", "tiny"), default=None,
                   help="DiT size (default: base on GPU, small on CPU)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of speech to generate")
    p.add_argument("--ref-seconds", type=float, default=5.0, help="seconds of reference prompt")
    p.add_argument("--nfe", type=int, default=SynthesisOptions().nfe)
    p.add_argument("--codec", choices=("wavcube", "mel"), default="wavcube",
                   help="latents of the synthesize timing: WavCube base, or mel + Vocos (default: %(default)s)")
    p.add_argument("--skip-mel", action="store_true", help="skip the DiT-alone mel-frame comparison")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    text = text_for(args.seconds)
    preset = args.preset or ("base" if device.type == "cuda" else "small")
    torch.manual_seed(0)

    config = getattr(TTSConfig, preset)()
    if args.codec == "mel":
        config = dataclasses.replace(config, dit=dataclasses.replace(config.dit, latent_dim=MEL_BINS))
    model = TTSModel(config).to(device).eval()
    codec = (vocos_mel_24khz() if args.codec == "mel" else WavCube(WavCubeConfig.base())).to(device).eval()
    codec_name = "mel + Vocos (24 kHz, 93.75 Hz)" if args.codec == "mel" else "WavCube base codec"

    def no_asr(wav, sr):
        raise RuntimeError("the benchmark passes ref_text")

    synth = Synthesizer(model, codec, transcriber=no_asr)
    opts = SynthesisOptions(nfe=args.nfe, seed=0, duration=args.seconds, max_chunk_seconds=max(15.0, args.seconds))
    ref = speechlike(args.ref_seconds)

    params = sum(x.numel() for x in model.parameters()) / 1e6
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"TTS {preset} DiT ({params:.0f}M params) + {codec_name}, random weights, on {name}, "
          f"torch {torch.__version__}")
    print(f"{args.seconds:g} s generated after a {args.ref_seconds:g} s prompt; NFE {opts.nfe} ({opts.solver}), "
          f"CFG {opts.cfg} (batch of 2 per evaluation)")

    synth.synthesize(text, ref, 16000, REF_TEXT, opts.replace(nfe=2 if opts.solver == "euler" else 4))  # warm-up

    totals: dict[str, float] = defaultdict(float)
    timed_method(model.dit, "forward", totals, "dit", device)
    timed_method(codec, "decode", totals, "decoder", device)
    sync(device)
    start = time.perf_counter()
    wav, sr = synth.synthesize(text, ref, 16000, REF_TEXT, opts)
    sync(device)
    total = time.perf_counter() - start
    rest = total - totals["dit"] - totals["decoder"]
    print(f"\nsynthesize: {total:.2f} s wall for {args.seconds:g} s of speech → RTF {total / args.seconds:.3f} "
          f"(output after end trimming: {wav.shape[0] / sr:.2f} s)")
    print(f"{'part':>8} {'seconds':>8} {'share':>6} {'RTF':>7}")
    for part, secs in (("DiT", totals["dit"]), ("decoder", totals["decoder"]), ("rest", rest)):
        print(f"{part:>8} {secs:>8.2f} {secs / total:>6.1%} {secs / args.seconds:>7.3f}")

    if args.skip_mel or args.codec == "mel":
        return
    # The mel DiT: the same network and sampler with 100-d frames at 93.75 Hz; its velocity
    # evaluations are timed as the latent DiT's were inside synthesize.
    mel_frames = int(round((args.ref_seconds + args.seconds) * MEL_FRAME_RATE))
    mel_prompt = int(round(args.ref_seconds * MEL_FRAME_RATE))
    mel_config = dataclasses.replace(model.config, dit=dataclasses.replace(model.config.dit, latent_dim=MEL_BINS))
    mel_model = TTSModel(mel_config).to(device).eval()
    sample_once(mel_model, 64, 16, opts.replace(nfe=2 if opts.solver == "euler" else 4), device)  # warm-up
    timed_method(mel_model.dit, "forward", totals, "mel", device)
    sample_once(mel_model, mel_frames, mel_prompt, opts, device)
    latent_frames = int(round((args.ref_seconds + args.seconds) * codec.frame_rate))
    t_latent, t_mel = totals["dit"], totals["mel"]
    print(f"\nDiT alone, NFE {opts.nfe}, prompt + output = {args.ref_seconds + args.seconds:g} s:")
    print(f"{'input':>22} {'frames':>7} {'seconds':>8} {'RTF':>7}")
    print(f"{'WavCube 50 Hz, 128-d':>22} {latent_frames:>7} {t_latent:>8.2f} {t_latent / args.seconds:>7.3f}")
    print(f"{'mel 93.75 Hz, 100-bin':>22} {mel_frames:>7} {t_mel:>8.2f} {t_mel / args.seconds:>7.3f}")
    print(f"latent speed advantage (mel time / latent time): {t_mel / t_latent:.2f}x")


if __name__ == "__main__":
    main()
