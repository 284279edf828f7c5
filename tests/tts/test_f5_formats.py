"""Every F5-TTS release format, saved as F5-TTS saves it (tests/data/f5_pipeline/models, made by its generate.py
with F5-TTS 1.1.22's own classes), loads as itself from its file or folder, without being told its architecture,
and computes what F5-TTS computes from it (velocity < 1e-5, sampling < 1e-4)."""
import logging

import pytest
import torch

from tts import load_f5_checkpoint
from tts.loading import load_model

from .test_f5 import rel_err

ROOT = __import__("eval.f5_parity", fromlist=["FIXTURE"]).FIXTURE
if not (ROOT / "formats.pt").is_file():
    pytest.skip("the F5-TTS formats fixture is not generated", allow_module_level=True)
FIX = torch.load(ROOT / "formats.pt", weights_only=False)
INPUTS = FIX["inputs"]
# What a user points the loader at: the trainer's folder for its checkpoints, the file otherwise.
SOURCES = {"small_trainer_last_ema": "models/F5TTS_v1_Small_train"}
# Formats whose tensors fit both v0 and v1 and whose name says neither: the loader says it assumed v1.
ASSUMED = {"small_pruned"}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CUBETTS_CACHE", str(tmp_path / "cache"))


def check(model, fmt: dict) -> None:
    extended = "_extended" if fmt["uses_extended_tokens"] else ""
    x, cond, time = INPUTS["x"], INPUTS["cond"], INPUTS["time"]
    text = INPUTS["text" + extended] + 1  # ours = F5-TTS's + 1: 0 is the filler
    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    for key, expected in fmt["velocity"].items():
        drop = torch.tensor([key == "uncond"])
        with torch.no_grad():
            out = model.dit(x, cond, text, time.reshape(1), mask, drop, drop)
        assert rel_err(out, expected) < 1e-5, key
    prompt, stext = INPUTS["sample_prompt"], INPUTS["sample_text" + extended] + 1
    for key, expected in fmt["sample"].items():
        flags = dict(part.split("=") for part in key.split(","))
        out = model.sample(prompt, torch.tensor([prompt.shape[1]]), stext, torch.tensor([INPUTS["sample_duration"]]),
                           INPUTS["sample_noise"], nfe=int(flags["steps"]), cfg=INPUTS["sample_cfg_strength"],
                           sway=INPUTS["sample_sway"], solver="euler",
                           schedule="epss" if flags["epss"] == "True" else "uniform")
        assert rel_err(out, expected["output"]) < 1e-4, key


@pytest.mark.parametrize("name", [n for n, f in FIX["formats"].items() if f["use_ema"]])
def test_each_format_loads_as_itself_and_computes_f5s_function(name, cache, caplog):
    fmt = FIX["formats"][name]
    with caplog.at_level(logging.WARNING):
        model = load_model(ROOT / SOURCES.get(name, fmt["checkpoint"]))
    assert ("assumed v1" in caplog.text) == (name in ASSUMED)
    assert model.config.dit.backbone == ("unet" if fmt["backbone"] == "UNetT" else "dit")
    assert model.config.dit.text_mask_padding == fmt["arch"]["text_mask_padding"]
    assert model.config.dit.text_vocab_size == fmt["text_num_embeds"] + 1
    check(model, fmt)


def test_a_trainers_online_weights_when_asked(cache):
    fmt = FIX["formats"]["small_trainer_last_online"]
    check(load_f5_checkpoint(ROOT / fmt["checkpoint"], ROOT / fmt["vocab"], use_ema=False), fmt)


def test_v0_run_as_v1_would_be_another_function(cache):
    fmt = FIX["formats"]["v0_release"]
    wrong = load_f5_checkpoint(ROOT / fmt["checkpoint"], ROOT / fmt["vocab"],
                               {**fmt["arch"], "text_mask_padding": True, "pe_attn_head": None})
    with pytest.raises(AssertionError):
        check(wrong, fmt)
