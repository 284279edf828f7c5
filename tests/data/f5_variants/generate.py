"""Generate this folder's fixtures with F5-TTS 1.1.22's own code, on CPU in float32.

Run it in an environment that has `f5-tts` installed (cubetts never imports it):

    /path/to/f5-env/bin/python tests/data/f5_variants/generate.py

For each variant below: a tiny model built with F5-TTS's own classes (`DiT` or `UNetT` inside `CFM`),
every parameter drawn at random (F5-TTS zero-initialises some, which would hide them from a test), saved
as F5-TTS's releases are (`ema_model.` keys plus the EMA wrapper's `initted` and `step`; all tensors in
float16 for the `_fp16` variants, as pruned files are), then loaded back by F5-TTS's `load_checkpoint`
(a float32 model on CPU, F5-TTS's inference) and run on fixed inputs. See README.md for the files.
"""
from __future__ import annotations

import json
import math
from importlib.resources import files
from pathlib import Path

import torch
import yaml
from f5_tts.infer.utils_infer import load_checkpoint
from f5_tts.model import CFM, DiT, UNetT
from safetensors.torch import save_file

HERE = Path(__file__).parent
VOCAB = 32  # text_num_embeds: F5-TTS's token ids 0..31, its embedding has one row more (the filler)
TINY = {"dim": 32, "heads": 2, "dim_head": 16, "ff_mult": 2}
V0_FLAGS = {"text_mask_padding": False, "pe_attn_head": 1}  # F5TTS_Base's and E2TTS_Base's
V1_FLAGS = {"text_mask_padding": True, "pe_attn_head": None}
# name: (backbone, arch, stored dtype, frames): the float16 ones long enough that rounded rotary
# frequencies move the angles of late frames.
VARIANTS = {
    "F5TTS_Base": ("DiT", {**TINY, "depth": 2, "text_dim": 16, "conv_layers": 2, **V0_FLAGS}, torch.float32, 48),
    "E2TTS_Base": ("UNetT", {**TINY, "depth": 4, **V0_FLAGS}, torch.float32, 48),
    "F5TTS_v1_Base_fp16": ("DiT", {**TINY, "depth": 2, "text_dim": 16, "conv_layers": 2, **V1_FLAGS}, torch.float16,
                           256),
    "E2TTS_Base_fp16": ("UNetT", {**TINY, "depth": 4, **V0_FLAGS}, torch.float16, 256),
}
RELEASES = ("F5TTS_v1_Base", "F5TTS_Base", "F5TTS_v1_Small", "E2TTS_Base")
BACKBONES = {"DiT": DiT, "UNetT": UNetT}
SEED = 1234  # F5-TTS's sampling seed


def build(backbone: str, arch: dict, vocab: int = VOCAB) -> CFM:
    return CFM(transformer=BACKBONES[backbone](**arch, text_num_embeds=vocab, mel_dim=100))


def randomize(model: CFM) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim > 1:
                p.normal_(0.0, 1.0 / math.sqrt(p[0].numel()))
            else:
                p.normal_(0.0, 0.2)
                if name.endswith((".g", "norm.weight")):  # norms' gains around 1
                    p.add_(1.0)


def release_state(model: CFM, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    state = {f"ema_model.{k}": v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    return {**state, "initted": torch.tensor(True), "step": torch.tensor(1000)}


def cases(model: CFM, frames: int, drops: list[tuple[bool, bool]], grids: list[tuple[int, bool]]) -> dict:
    gen = torch.Generator().manual_seed(frames)
    text = torch.randint(0, VOCAB, (1, 12), generator=gen)  # F5-TTS's ids (its embedding adds 1)
    x = torch.randn(1, frames, 100, generator=gen)
    cond = torch.randn(1, frames, 100, generator=gen)
    cond[:, frames // 2:] = 0
    time = torch.tensor([0.37])
    outputs = {}
    with torch.no_grad():
        for drop_audio, drop_text in drops:
            outputs[f"drop_audio={drop_audio},drop_text={drop_text}"] = model.transformer(
                x=x, cond=cond, text=text, time=time, drop_audio_cond=drop_audio, drop_text=drop_text)
    prompt = torch.randn(1, frames // 3, 100, generator=gen)
    results = {}
    for steps, epss in grids:
        out, _ = model.sample(prompt, text, frames, steps=steps, cfg_strength=2.0, sway_sampling_coef=-1.0,
                              seed=SEED, use_epss=epss)
        results[f"steps={steps},epss={epss}"] = out
    torch.manual_seed(SEED)  # CFM.sample's own draw of the starting noise
    noise = torch.randn(1, frames, 100)
    return {"forward": {"x": x, "cond": cond, "text": text, "time": time, "outputs": outputs},
            "sample": {"prompt": prompt, "text": text, "duration": frames, "noise": noise, "cfg_strength": 2.0,
                       "sway": -1.0, "solver": "euler", "results": results}}


def release_shapes() -> dict:
    """Each release's yaml arch and its state dict's shapes (built on the meta device: no weights)."""
    out = {}
    for name in RELEASES:
        model_cfg = yaml.safe_load(files("f5_tts").joinpath(f"configs/{name}.yaml").read_text())["model"]
        with torch.device("meta"):
            model = build(model_cfg["backbone"], model_cfg["arch"], vocab=2545)
        out[name] = {"backbone": model_cfg["backbone"], "arch": model_cfg["arch"],
                     "shapes": {k: list(v.shape) for k, v in release_state(model, torch.float32).items()}}
    return out


def main() -> None:
    all_cases = {}
    for name, (backbone, arch, dtype, frames) in VARIANTS.items():
        torch.manual_seed(0)
        model = build(backbone, arch)
        randomize(model)
        path = HERE / f"{name}.safetensors"
        save_file(release_state(model, dtype), str(path))
        loaded = load_checkpoint(build(backbone, arch), str(path), "cpu", dtype=torch.float32).eval()
        # The long float16 cases keep one drop setting and one grid: the fixture stays small.
        long = dtype == torch.float16
        drops = [(False, False)] if long else [(False, False), (True, False), (True, True)]
        grids = [(7, True)] if long else [(7, True), (8, False)]
        all_cases[name] = {"backbone": backbone, "arch": arch, "text_num_embeds": VOCAB,
                           **cases(loaded, frames, drops, grids)}
    torch.save(all_cases, HERE / "cases.pt")
    (HERE / "releases.json").write_text(json.dumps(release_shapes()) + "\n")


if __name__ == "__main__":
    main()
