"""Generate this folder's fixtures with F5-TTS 1.1.22's own code, on CPU in float32.

Run it in an environment that has `f5-tts` and `bigvgan==2.4.1` installed (cubetts never imports f5_tts):

    /path/to/f5-env/bin/python tests/data/bigvgan_mel/generate.py

- `bigvgan_tiny/`: a tiny BigVGAN in the hub layout of `nvidia/bigvgan_v2_24khz_100band_256x` (`config.json` +
  `bigvgan_generator.pt` holding `{"generator": state_dict}` with weight norm, as the package's own
  `_save_pretrained` writes): the release's kind of generator (AMP blocks, SnakeBeta on a log scale, no final tanh
  or bias) and mel settings, with four upsampling layers of 4 (4^4 = 256, the hop) and 32 channels at the start;
  every parameter drawn at random.
- `cases.pt`: `meta` (versions), `mel` (for each clip: `wav` (T,) at 24 kHz and F5-TTS's log-mel of it, `mel`
  (1, 100, T // 256), from its `MelSpec(mel_spec_type="bigvgan")`, i.e. `get_bigvgan_mel_spectrogram`) and
  `vocoder` (for each mel (1, 100, N): `wav` (hop N,), what F5-TTS's `vocoder(generated)` returns in
  `infer_batch_process`, the vocoder loaded by F5-TTS's `load_vocoder("bigvgan", is_local=True, ...)`).

F5-TTS imports BigVGAN as `third_party.BigVGAN.bigvgan` (a git submodule of NVIDIA's repository, absent from
its wheel); here that name is the PyPI package's `bigvgan.bigvgan`, the same code, with one glue change: its
`BigVGAN._from_pretrained` requires `proxies` and `resume_download`, which huggingface_hub 1.x no longer passes
(F5-TTS's `load_vocoder` fails there with a TypeError), so the shim's BigVGAN gives them their old defaults.
"""
from __future__ import annotations

import importlib
import json
import math
import sys
import types
from importlib.metadata import version
from pathlib import Path

import torch

HERE = Path(__file__).parent
FOLDER = HERE / "bigvgan_tiny"
CONFIG = {
    "resblock": "1",
    "upsample_rates": [4, 4, 4, 4],
    "upsample_kernel_sizes": [8, 8, 8, 8],
    "upsample_initial_channel": 32,
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3, 5]],
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
    "activation": "snakebeta",
    "snake_logscale": True,
    "num_mels": 100,
    "num_freq": 1025,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "sampling_rate": 24000,
    "fmin": 0,
    "fmax": None,
    "fmax_for_loss": None,
}


def harmonic(seconds: float, sr: int = 24000) -> torch.Tensor:
    """A vibrato'd 150 Hz tone with 20 harmonics and a little noise."""
    t = torch.arange(int(seconds * sr)) / sr
    phase = 2 * math.pi * torch.cumsum(150 * (1 + 0.2 * torch.sin(2 * math.pi * 2 * t)) / sr, 0)
    gen = torch.Generator().manual_seed(1)
    return 0.1 * sum(torch.sin(k * phase) / k for k in range(1, 21)) + 0.003 * torch.randn(t.shape, generator=gen)


def save_tiny_bigvgan() -> None:
    from bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    torch.manual_seed(0)
    model = BigVGAN(AttrDict(dict(CONFIG)), use_cuda_kernel=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_v"):  # directions; weight_g (the norms) sets the scale
                p.normal_(0.0, 1.0)
            elif name.endswith("weight_g"):  # the last layer's small: the output stays inside the clamp at ±1
                p.uniform_(0.5, 1.5).mul_(0.003 if name.startswith("conv_post") else 1.0)
            else:  # biases and the Snake alphas and betas (log scale)
                p.normal_(0.0, 0.3)
    FOLDER.mkdir(exist_ok=True)
    torch.save({"generator": model.state_dict()}, FOLDER / "bigvgan_generator.pt")
    (FOLDER / "config.json").write_text(json.dumps(CONFIG, indent=4) + "\n")


def main() -> None:
    torch.set_num_threads(1)
    package = importlib.import_module("bigvgan.bigvgan")

    class BigVGAN(package.BigVGAN):
        @classmethod
        def _from_pretrained(cls, *, proxies=None, resume_download=False, **kwargs):
            return super()._from_pretrained(proxies=proxies, resume_download=resume_download, **kwargs)

    shim = types.ModuleType("third_party.BigVGAN.bigvgan")
    shim.BigVGAN = BigVGAN  # type: ignore[attr-defined]
    third_party, submodule = types.ModuleType("third_party"), types.ModuleType("third_party.BigVGAN")
    third_party.BigVGAN, submodule.bigvgan = submodule, shim  # type: ignore[attr-defined]
    sys.modules.update({"third_party": third_party, "third_party.BigVGAN": submodule,
                        "third_party.BigVGAN.bigvgan": shim})

    from f5_tts.infer.utils_infer import load_vocoder
    from f5_tts.model.modules import MelSpec

    save_tiny_bigvgan()
    mel_spec = MelSpec(mel_spec_type="bigvgan")  # F5-TTS's defaults: 24 kHz, 100 bins, n_fft 1024, hop 256
    gen = torch.Generator().manual_seed(2)
    wavs = {"harmonic_1.3s": harmonic(1.3), "noise_24255": 0.3 * torch.randn(24255, generator=gen),
            "quiet_noise_1000": 1e-4 * torch.randn(1000, generator=gen), "silence_5000": torch.zeros(5000)}
    mels = {name: mel_spec(wav[None]) for name, wav in wavs.items()}  # (1, 100, T // 256)

    vocoder = load_vocoder(vocoder_name="bigvgan", is_local=True, local_path=str(FOLDER), device="cpu")
    inputs = {"harmonic_1.3s": mels["harmonic_1.3s"],
              "random_40": -5.0 + 2.0 * torch.randn(1, 100, 40, generator=gen),
              "one_frame": -5.0 + 2.0 * torch.randn(1, 100, 1, generator=gen)}
    outputs = {}
    with torch.inference_mode():
        for name, mel in inputs.items():
            outputs[name] = vocoder(mel.to(torch.float32)).squeeze().reshape(-1)  # (1, 1, hop N) → (hop N,)
    cases = {
        "meta": {"f5_tts": version("f5-tts"), "bigvgan": version("bigvgan"), "torch": str(torch.__version__)},
        "mel": {name: {"wav": wavs[name], "mel": mels[name]} for name in wavs},
        "vocoder": {name: {"mel": inputs[name], "wav": outputs[name].clone()} for name in inputs},
    }
    torch.save(cases, HERE / "cases.pt")
    for name, out in outputs.items():
        print(f"{name}: mel {tuple(inputs[name].shape)} -> wav {tuple(out.shape)}, std {out.std().item():.3g}, "
              f"peak {out.abs().max().item():.3g}")


if __name__ == "__main__":
    main()
