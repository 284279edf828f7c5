"""Training throughput: frames per second and peak memory of one optimizer step, random weights and data.

    python -m eval.bench_train --what tts --preset base --device cuda       # TTS DiT, 38,400 frames a step, bf16
    python -m eval.bench_train --what codec --preset stage2 --device cuda   # codec stage 2, 8 × 10 s crops, fp32
    python -m eval.bench_train --what tts --preset tiny                     # CPU smoke run

A step is what the recipes do: TTS = forward (flow-matching loss) + backward + grad clipping + AdamW;
codec = generator forward, discriminator update, adversarial + mel + semantic loss, backward, AdamW.
Frames are 50 Hz latent frames (one per 320 samples of 16 kHz audio). Median of the timed steps
after two warm-up steps. Peak memory is torch.cuda.max_memory_allocated (weights, AdamW state included).
"""
from __future__ import annotations

import argparse
import contextlib

import torch

from codec.losses import AdversarialConfig, Discriminators
from codec.semantic import CodecTrainingConfig, CodecTrainingModel
from eval.timing import measure
from tts import TTSConfig, TTSModel


def tts_step(preset: str, device: torch.device, frames: int, seconds: float, bf16: bool):
    model = TTSModel(getattr(TTSConfig, preset)()).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    n = int(seconds * 50)
    batch = max(1, frames // n)
    latent = torch.randn(batch, n, 128, device=device)
    mask = torch.ones(batch, n, dtype=torch.bool, device=device)
    vocab = model.config.dit.text_vocab_size
    text = torch.randint(1, vocab, (batch, int(seconds * 14)), device=device)  # ~14 phone tokens a second
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and device.type == "cuda" else contextlib.nullcontext()

    def step() -> None:
        with amp:
            loss, _ = model(latent, mask, text)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step, batch * n, sum(p.numel() for p in model.parameters())


def codec_step(preset: str, device: torch.device, batch: int, seconds: float, bf16: bool):
    stage = 2 if "2" in preset else 1
    cfg = CodecTrainingConfig.tiny(stage) if preset.startswith("tiny") else getattr(CodecTrainingConfig, f"stage{stage}")()
    gen = CodecTrainingModel(cfg).to(device)
    disc = Discriminators(AdversarialConfig.stage2() if stage == 2 else AdversarialConfig.stage1()).to(device)
    opt_g = torch.optim.AdamW([p for p in gen.parameters() if p.requires_grad], lr=1e-4, betas=(0.8, 0.9))
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4, betas=(0.8, 0.9))
    wav = torch.randn(batch, int(seconds * 16000), device=device) * 0.1
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and device.type == "cuda" else contextlib.nullcontext()

    def step() -> None:
        with amp:
            loss, _, wav_hat = gen(wav)
            real = wav[:, : wav_hat.shape[1]]
            loss_d, _ = disc(real, wav_hat.detach(), True)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with amp:
            loss_adv, _ = disc(real, wav_hat, False)
        opt_g.zero_grad(set_to_none=True)
        (loss + loss_adv).backward()
        opt_g.step()

    frames = batch * ((int(seconds * 16000) - 400) // 320 + 1)
    return step, frames, sum(p.numel() for p in gen.parameters())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", choices=["tts", "codec"], required=True)
    p.add_argument("--preset", default=None, help="tts: base/small/tiny; codec: stage1/stage2/tiny-stage1/tiny-stage2")
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=int, default=38_400, help="tts: latent frames per step")
    p.add_argument("--batch", type=int, default=8, help="codec: crops per step")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each utterance / crop")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                   help="default: bf16 for tts, fp32 for codec (as the reference trains)")
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    precision = args.precision or ("bf16" if args.what == "tts" else "fp32")
    if device.type != "cuda":
        precision = "fp32"  # autocast is used on CUDA only
    if args.what == "tts":
        preset = args.preset or "base"
        step, frames, params = tts_step(preset, device, args.frames, args.seconds, precision == "bf16")
    else:
        preset = args.preset or "stage2"
        step, frames, params = codec_step(preset, device, args.batch, args.seconds, precision == "bf16")
    m = measure(step, device, repeats=args.steps, warmup=2)
    t = m["wall_s"]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak = f"{m['peak_memory_mb'] / 1024:.1f} GiB" if device.type == "cuda" else "n/a"
    print(f"{args.what} {preset} ({params / 1e6:.0f}M params, {precision}) on {name}: {frames} frames/step, "
          f"{t:.3f} s/step, {frames / t:,.0f} frames/s, peak {peak}")


if __name__ == "__main__":
    main()
