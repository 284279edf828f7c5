"""Every F5-TTS release architecture computes F5-TTS's function: F5TTS_Base (v0), E2TTS_Base (its flat U-Net
transformer) and float16-stored files, against F5-TTS's own outputs (tests/data/f5_variants, see its README)."""
import json
from pathlib import Path

import pytest
import torch

from tts import dit as dit_module
from codec.checkpoint import CheckpointError, load_strict
from tts.dit import DiTConfig
from tts.f5_checkpoint import (E2_BASE_ARCH, load_f5_checkpoint, F5_BASE_ARCH, F5_V1_BASE_ARCH, F5_V1_SMALL_ARCH, MEL_CODEC, ROTARY_KEY,
                               convert_state_dict, dit_config, infer_arch, read_state_dict)
from tts.model import TTSConfig, TTSModel
from tts.unett import UNetT

DATA = Path(__file__).parents[1] / "data" / "f5_variants"
VARIANTS = ["F5TTS_Base", "E2TTS_Base", "F5TTS_v1_Base_fp16", "E2TTS_Base_fp16"]
FP16 = [v for v in VARIANTS if v.endswith("_fp16")]
V0_FLAGS = {"text_mask_padding": False, "pe_attn_head": 1}


@pytest.fixture(scope="module")
def cases() -> dict:
    return torch.load(DATA / "cases.pt")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def f5_arch(case: dict) -> dict:
    return {**case["arch"], "backbone": case["backbone"]}


def f5_model(name: str, case: dict, stored_rotary: bool = True) -> TTSModel:
    """The fixture's file converted as `load_f5_checkpoint` converts it; `stored_rotary=False`: without the
    file's own rotary frequencies (recomputed, as before they were kept)."""
    vocab = tuple(chr(0x4E00 + i) for i in range(case["text_num_embeds"]))
    if stored_rotary:
        return load_f5_checkpoint(DATA / f"{name}.safetensors", list(vocab), f5_arch(case))
    state = convert_state_dict(read_state_dict(DATA / f"{name}.safetensors"))
    state.pop(ROTARY_KEY, None)
    config = TTSConfig(dit=dit_config(f5_arch(case), len(vocab), state), tokenizer="f5", vocab=vocab,
                       codec=MEL_CODEC, rules="f5")
    model = TTSModel(config)
    state.update({k: v for k, v in model.state_dict().items() if k.startswith("latent_norm.")})
    load_strict(model, {k: v.float() for k, v in state.items()}, name)
    return model.eval()


def velocity_errors(model: TTSModel, case: dict) -> dict[str, float]:
    forward = case["forward"]
    B, N, _ = forward["x"].shape
    mask, errors = torch.ones(B, N, dtype=torch.bool), {}
    for key, expected in forward["outputs"].items():
        flags = dict(part.split("=") for part in key.split(","))
        drop_audio, drop_text = (torch.full((B,), flags[f] == "True") for f in ("drop_audio", "drop_text"))
        with torch.no_grad():
            out = model.dit(forward["x"], forward["cond"], forward["text"] + 1, forward["time"], mask, drop_audio,
                            drop_text)
        errors[key] = rel_err(out, expected)
    return errors


@pytest.mark.parametrize("name", VARIANTS)
def test_velocity_matches_f5(name, cases):
    model = f5_model(name, cases[name])
    assert isinstance(model.dit, UNetT) == (cases[name]["backbone"] == "UNetT")
    for key, err in velocity_errors(model, cases[name]).items():
        assert err < 1e-5, key


@pytest.mark.parametrize("name", VARIANTS)
def test_sampling_matches_f5(name, cases):
    model, case = f5_model(name, cases[name]), cases[name]["sample"]
    B, P, _ = case["prompt"].shape
    for key, expected in case["results"].items():
        flags = dict(part.split("=") for part in key.split(","))
        out = model.sample(case["prompt"], torch.full((B,), P), case["text"] + 1, torch.full((B,), case["duration"]),
                           case["noise"], nfe=int(flags["steps"]), cfg=case["cfg_strength"], sway=case["sway"],
                           solver=case["solver"], schedule="epss" if flags["epss"] == "True" else "uniform")
        assert rel_err(out, expected) < 1e-4, key


@pytest.mark.parametrize("name", FP16)
def test_float16_file_turns_by_its_stored_rotary_frequencies(name, cases):
    """F5-TTS loads a float16 file's rounded frequencies into its float32 model and uses them; recomputing
    them exactly misses F5-TTS's velocity by 10 times the tolerance already at 256 frames (tiny random models;
    10 % at 1,500 frames of the released ones)."""
    model = f5_model(name, cases[name])
    assert model.config.dit.stored_rotary_freqs
    assert model.dit.rotary_freqs.inv_freq.dtype == torch.float32
    recomputed = f5_model(name, cases[name], stored_rotary=False)
    assert not recomputed.config.dit.stored_rotary_freqs
    assert min(velocity_errors(recomputed, cases[name]).values()) > 1e-4


def test_float32_file_keeps_no_frequencies(cases):
    """A float32 file stores exactly the computed frequencies: nothing is kept, so its model is today's."""
    state = convert_state_dict(read_state_dict(DATA / "F5TTS_Base.safetensors"))
    assert ROTARY_KEY not in state
    assert not dit_config(f5_arch(cases["F5TTS_Base"]), 32, state).stored_rotary_freqs


def test_stored_frequencies_stay_float32_and_are_saved(cases, tmp_path):
    name = "F5TTS_v1_Base_fp16"
    model = f5_model(name, cases[name])
    stored = model.dit.rotary_freqs.inv_freq.clone()
    model.save_pretrained(tmp_path / "saved")
    loaded = TTSModel.from_pretrained(tmp_path / "saved")
    assert loaded.config.dit.stored_rotary_freqs
    torch.testing.assert_close(loaded.dit.rotary_freqs.inv_freq, stored, rtol=0, atol=0)
    assert velocity_errors(loaded, cases[name]) == velocity_errors(model, cases[name])
    cast = model.to(torch.bfloat16)  # e.g. the CUDA graphs' bf16 copy: the angles must not move
    assert cast.dit.rotary_freqs.inv_freq.dtype == torch.float32
    torch.testing.assert_close(cast.dit.rotary_freqs.inv_freq, stored, rtol=0, atol=0)


def fake_state(shapes: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """A release's state dict as `read_state_dict` gives it, with shapes and no data."""
    return {k.removeprefix("ema_model."): torch.empty(shape, device="meta") for k, shape in shapes.items()}


def test_infer_arch_of_each_release():
    releases = json.loads((DATA / "releases.json").read_text())
    v1, v0 = F5_V1_BASE_ARCH, F5_BASE_ARCH
    expected = {"F5TTS_v1_Base": [v1, v0], "F5TTS_Base": [v1, v0],
                "F5TTS_v1_Small": [F5_V1_SMALL_ARCH, {**F5_V1_SMALL_ARCH, **V0_FLAGS}], "E2TTS_Base": [E2_BASE_ARCH]}
    for name, archs in expected.items():
        assert infer_arch(fake_state(releases[name]["shapes"])) == archs, name


def test_release_archs_are_f5s_yamls():
    releases = json.loads((DATA / "releases.json").read_text())
    ours = {"F5TTS_v1_Base": F5_V1_BASE_ARCH, "F5TTS_Base": F5_BASE_ARCH, "F5TTS_v1_Small": F5_V1_SMALL_ARCH,
            "E2TTS_Base": E2_BASE_ARCH}
    for name, arch in ours.items():
        yaml_arch = {**releases[name]["arch"], "backbone": releases[name]["backbone"]}
        assert dit_config(arch, 2545) == dit_config(yaml_arch, 2545), name


@pytest.mark.parametrize("name", VARIANTS)
def test_infer_arch_of_the_fixtures(name, cases):
    """The head size comes from the stored rotary frequencies (16 here); a DiT is v1 or v0, a UNetT E2-TTS."""
    candidates = infer_arch(read_state_dict(DATA / f"{name}.safetensors"))
    configs = [dit_config(a, 32) for a in candidates]
    assert dit_config(f5_arch(cases[name]), 32) in configs
    assert len(candidates) == (1 if cases[name]["backbone"] == "UNetT" else 2)


def test_v0_run_as_v1_is_another_function(cases):
    """Why infer_arch gives both: the text padding mask and the rotary heads leave no trace in the tensors,
    yet F5TTS_Base's file computes another function under v1's flags."""
    case = {**cases["F5TTS_Base"], "arch": {**cases["F5TTS_Base"]["arch"], "text_mask_padding": True,
                                            "pe_attn_head": None}}
    assert min(velocity_errors(f5_model("F5TTS_Base", case), cases["F5TTS_Base"]).values()) > 0.1


def test_infer_arch_refuses_other_states():
    with pytest.raises(CheckpointError, match="not an F5-TTS checkpoint"):
        infer_arch({"transformer.something.weight": torch.zeros(2, 2)})


def test_saved_configs_without_the_variant_fields_load():
    """config.json files written before these fields existed load as F5-TTS v1's DiT, as they were."""
    saved = TTSConfig.tiny().to_dict()
    for field in ("backbone", "text_mask_padding", "rotary_heads", "stored_rotary_freqs"):
        del saved["dit"][field]
    config = TTSConfig.from_dict(saved)
    assert config == TTSConfig.tiny()
    assert (config.dit.backbone, config.dit.text_mask_padding, config.dit.rotary_heads,
            config.dit.stored_rotary_freqs) == ("dit", True, None, False)


def test_unet_padded_batch_equals_items_alone(cases):
    dit = f5_model("E2TTS_Base", cases["E2TTS_Base"]).dit
    gen = torch.Generator().manual_seed(0)
    x, cond = torch.randn(2, 30, 100, generator=gen), torch.randn(2, 30, 100, generator=gen)
    text, t = torch.randint(1, 33, (2, 8), generator=gen), torch.rand(2, generator=gen)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 18:] = False
    keep = torch.zeros(2, dtype=torch.bool)
    with torch.no_grad():
        batch = dit(x, cond, text, t, mask, keep, keep)
        alone = dit(x[1:, :18], cond[1:, :18], text[1:], t[1:], mask[1:, :18], keep[1:], keep[1:])
    torch.testing.assert_close(batch[1, :18], alone[0], atol=1e-5, rtol=1e-4)


def test_variant_settings_are_checked():
    with pytest.raises(ValueError, match="even"):
        DiTConfig.tiny(backbone="unet", depth=3)
    with pytest.raises(ValueError, match="rotary_heads"):
        DiTConfig.tiny(rotary_heads=5)
    with pytest.raises(ValueError, match="text_mask_padding"):
        DiTConfig.tiny(text_layout="spread", text_mask_padding=False)
    with pytest.raises(ValueError, match="backbone"):
        DiTConfig.tiny(backbone="mmdit")
    with pytest.raises(ValueError, match="builds backbone"):
        dit_module.DiT(DiTConfig.tiny(backbone="unet"))
    for arch, match in (({**F5_V1_BASE_ARCH, "qk_norm": "rms_norm"}, "qk_norm"),
                        ({**E2_BASE_ARCH, "skip_connect_type": "add"}, "skip_connect_type"),
                        ({**F5_V1_BASE_ARCH, "backbone": "MMDiT"}, "MMDiT"),
                        ({**E2_BASE_ARCH, "long_skip_connection": True}, "long_skip_connection"),
                        ({**F5_BASE_ARCH, "pe_attn_head": 17}, "rotary_heads")):
        with pytest.raises(CheckpointError, match=match):
            dit_config(arch, 10)


def test_rotary_heads_turn_only_the_first_heads():
    """With rotary_heads=1 the other heads attend without positions: shifting every frame's content by one
    position changes only what the first head sees."""
    config = DiTConfig.tiny(rotary_heads=1, dropout=0.0)
    dit = dit_module.DiT(config)
    assert [b.rotary_heads for b in dit.blocks] == [1] * config.depth
    rope = dit_module.rope_tables(config, 9, None, "cpu")
    qkv = torch.nn.Linear(config.dim, 3 * config.dim)
    h = torch.randn(1, 9, config.dim)
    a = dit_module.attention(qkv, h, config.heads, rope, torch.ones(1, 1, 1, 9, dtype=torch.bool), 1)
    b = dit_module.attention(qkv, h.roll(1, dims=1), config.heads, rope, torch.ones(1, 1, 1, 9, dtype=torch.bool), 1)
    d = config.dim // config.heads
    torch.testing.assert_close(b[:, :, d:], a.roll(1, dims=1)[:, :, d:])  # unturned heads: equivariant
    assert not torch.allclose(b[:, :, :d], a.roll(1, dims=1)[:, :, :d])
