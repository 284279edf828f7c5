"""Times F5-TTS's own inference code; `eval/bench_tts.py --compare-f5` runs it as a subprocess.

It runs ONLY in a separate benchmark environment that holds the `f5-tts` package (cubetts never
imports f5_tts nor depends on it), made once with

    uv venv f5env && uv pip install --python f5env/bin/python torch==2.11.0 torchaudio==2.11.0 f5-tts==1.1.22

    f5env/bin/python eval/bench_f5.py SPEC.json OUT.json

SPEC.json: {"dit": {dim, depth, heads, ff_mult, text_dim, conv_layers}, "device", "threads",
"ref_seconds", "seconds", "text_chars", "repeats", "runs": [{"nfe", "epss", "batch"}, ...]}.
For each run: F5-TTS's `CFM` + `DiT` with those sizes and random weights (as F5-TTS v1 Base is
built: 100 mel bins, text_mask_padding, F5's 2545-symbol vocabulary), and a random-weight Vocos of
the `charactr/vocos-mel-24khz` architecture (no download). One call is what F5-TTS's
`infer_batch_process` does per text batch: `CFM.sample` on the raw prompt waveform (F5 computes its
mel) with CFG 2 and sway -1 for the new frames, then `vocoder.decode` of the generated frames. On
CUDA the CFM runs in float16 (F5-TTS's choice on GPUs of compute capability >= 7), Vocos in float32.
OUT.json: per run the median wall seconds over `repeats` calls after one warm-up, and the seconds in
the DiT (`transformer.forward`), the codec (prompt mel + Vocos) and the rest.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import torch
from f5_tts.model import CFM, DiT
from vocos import Vocos
from vocos.feature_extractors import MelSpectrogramFeatures
from vocos.heads import ISTFTHead
from vocos.models import VocosBackbone

SAMPLE_RATE, HOP, N_MELS = 24000, 256, 100
F5_VOCAB = 2545  # F5-TTS v1 Base's vocab.txt (pinyin + characters); ids are drawn at random below
CFG, SWAY = 2.0, -1.0  # F5-TTS's inference defaults


def _load_timing():
    """eval/timing.py by its path: this environment has torch but not cubetts's dependencies."""
    spec = importlib.util.spec_from_file_location("cubetts_timing", Path(__file__).with_name("timing.py"))
    assert spec is not None and spec.loader is not None, "eval/timing.py sits beside this script"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(dit: dict, device: torch.device) -> tuple[CFM, Vocos]:
    torch.manual_seed(0)
    backbone = DiT(dim=dit["dim"], depth=dit["depth"], heads=dit["heads"], ff_mult=dit["ff_mult"],
                   text_dim=dit["text_dim"], conv_layers=dit["conv_layers"], text_mask_padding=True,
                   text_num_embeds=F5_VOCAB, mel_dim=N_MELS)
    model = CFM(transformer=backbone, mel_spec_kwargs={
        "n_fft": 1024, "hop_length": HOP, "win_length": 1024, "n_mel_channels": N_MELS,
        "target_sample_rate": SAMPLE_RATE, "mel_spec_type": "vocos"})
    with torch.no_grad():  # F5 zero-initialises its output layers: draw every weight so the output is not 0
        for p in model.parameters():
            p.normal_(0, 0.02)
    fp16 = device.type == "cuda" and torch.cuda.get_device_properties(device).major >= 7
    model = model.to(device, torch.float16 if fp16 else torch.float32).eval()
    # charactr/vocos-mel-24khz's architecture (its config.yaml), random weights
    vocos = Vocos(MelSpectrogramFeatures(sample_rate=SAMPLE_RATE, n_fft=1024, hop_length=HOP, n_mels=N_MELS,
                                         padding="center"),
                  VocosBackbone(input_channels=N_MELS, dim=512, intermediate_dim=1536, num_layers=8),
                  ISTFTHead(dim=512, n_fft=1024, hop_length=HOP, padding="same"))
    return model, vocos.to(device).eval()


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    timing = _load_timing()
    device = torch.device(spec["device"])
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    model, vocos = build(spec["dit"], device)
    parts = timing.PartTimer(device)
    parts.wrap(model.transformer, "forward", "dit")
    parts.wrap(model.mel_spec, "forward", "codec")
    parts.wrap(vocos, "decode", "codec")
    ref_samples = int(spec["ref_seconds"] * SAMPLE_RATE)
    ref_frames = ref_samples // HOP  # as infer_batch_process counts the prompt
    total_frames = ref_frames + int(spec["seconds"] * SAMPLE_RATE / HOP)
    gen = torch.Generator().manual_seed(0)
    results = []
    for run in spec["runs"]:
        B = run["batch"]
        wav = (0.1 * torch.randn(B, ref_samples, generator=gen)).to(device)
        text = torch.randint(0, F5_VOCAB, (B, spec["text_chars"]), generator=gen).to(device)

        def call(steps: int, frames: int, wav=wav, text=text, epss=run["epss"]) -> None:
            with torch.inference_mode():
                mel, _ = model.sample(cond=wav, text=text, duration=frames, steps=steps, cfg_strength=CFG,
                                      sway_sampling_coef=SWAY, use_epss=epss)
                vocos.decode(mel[:, ref_frames:].float().permute(0, 2, 1))  # (B, n_mels, N) → (B, T)

        call(1, total_frames)  # warm-up at full size, one step: kernel selection and allocator growth
        m = timing.measure(functools.partial(call, run["nfe"], total_frames), device, spec["repeats"], warmup=0, parts=parts)
        results.append({**run, "frames": total_frames, **m})
        print(json.dumps(results[-1]), file=sys.stderr)
    meta = {"torch": torch.__version__, "device": spec["device"], "threads": torch.get_num_threads(),
            "params_m": sum(p.numel() for p in model.transformer.parameters()) / 1e6}
    Path(sys.argv[2]).write_text(json.dumps({"meta": meta, "results": results}, indent=1))


if __name__ == "__main__":
    main()
