"""Finding and converting F5-TTS checkpoints: which file a folder stands for, which architecture a file without
a config is, and a conversion cache that is whole or absent."""
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from codec.checkpoint import CheckpointError
from tts import f5_checkpoint as f5
from tts.f5_checkpoint import F5_BASE_ARCH, F5_V1_BASE_ARCH, choose_arch, infer_arch, pick_checkpoint
from tts.loading import load_model


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CUBETTS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def test_a_trainers_folder_is_its_last_checkpoint_never_the_base_copy(tmp_path):
    folder = touch(tmp_path / "run", "pretrained_model_1250000.safetensors", "model_500.pt", "model_last.pt")
    assert pick_checkpoint(folder).name == "model_last.pt"
    folder = touch(tmp_path / "steps", "pretrained_model_1250000.safetensors", "model_500.pt", "model_1000.pt",
                   "model_90.safetensors")
    assert pick_checkpoint(folder).name == "model_1000.pt"  # by number, not by name: "model_500" > "model_1000"
    assert pick_checkpoint(touch(tmp_path / "one", "model.safetensors", "cases.pt")).name == "model.safetensors"
    with pytest.raises(CheckpointError, match="pretrained_"):
        pick_checkpoint(touch(tmp_path / "base-only", "pretrained_model_1250000.safetensors"))
    with pytest.raises(CheckpointError, match="model_a.pt, model_b.pt"):
        pick_checkpoint(touch(tmp_path / "two", "model_a.pt", "model_b.pt"))


def test_v0_and_v1_share_shapes_so_the_name_decides_or_the_loader_says_what_it_assumed(f5_reference, tmp_path, caplog):
    state = load_file(str(f5_reference / "model.safetensors"))
    state = {k.removeprefix("ema_model."): v for k, v in state.items()}
    candidates = infer_arch(state)
    assert [a["text_mask_padding"] for a in candidates] == [True, False]
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    for key in ("dim", "depth", "ff_mult", "text_dim", "conv_layers"):  # heads are not in the shapes
        assert {a[key] for a in candidates} == {arch[key]}
    with caplog.at_level(logging.WARNING):
        chosen = choose_arch(state, tmp_path / "model_77.safetensors")
    assert chosen["text_mask_padding"] and chosen["pe_attn_head"] is None
    assert "assumed v1" in caplog.text and "F5TTS_Base" in caplog.text and '"pe_attn_head": 1' in caplog.text
    # A release's own file name, or a fine-tune's copy of its base model, names the architecture.
    release = {**F5_BASE_ARCH, **{k: arch[k] for k in ("dim", "depth", "heads", "ff_mult", "text_dim", "conv_layers")}}
    v1 = {**F5_V1_BASE_ARCH, **{k: arch[k] for k in ("dim", "depth", "heads", "ff_mult", "text_dim", "conv_layers")}}
    caplog.clear()
    for release_arch, name in ((release, "model_1200000.safetensors"), (v1, "model_1250000.safetensors")):
        original = f5.RELEASES["F5TTS_Base" if name == "model_1200000.safetensors" else "F5TTS_v1_Base"]
        f5.RELEASES[original.subfolder] = f5.Release(original.subfolder, original.checkpoint, release_arch)
        try:
            flags = {k: release_arch[k] for k in ("text_mask_padding", "pe_attn_head")}
            assert flags.items() <= choose_arch(state, tmp_path / name).items()
            run = touch(tmp_path / f"ft-{name}", f"pretrained_{name}")
            assert flags.items() <= choose_arch(state, run / "model_last.pt").items()
        finally:
            f5.RELEASES[original.subfolder] = original
    assert not caplog.text


def test_conversion_records_f5s_rules_and_licence(f5_reference, cache):
    model = load_model(f5_reference)
    assert model.config.rules == "f5" and model.config.license == f5.LICENSE


def test_a_cache_left_incomplete_is_converted_again(f5_reference, cache):
    load_model(f5_reference)
    (directory,) = (cache / "f5").iterdir()
    (directory / "config.json").unlink()  # as a crash between the two files left it
    load_model(f5_reference)
    assert (directory / "config.json").is_file() and [p.name for p in (cache / "f5").iterdir()] == [directory.name]
    (directory / "config.json").write_text("{trunc")
    load_model(f5_reference)
    assert json.loads((directory / "config.json").read_text())["model_type"]


def test_a_conversion_that_dies_leaves_no_cache_entry(f5_reference, cache, monkeypatch):
    def die(self, directory):
        (directory / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(f5.TTSModel, "save_pretrained", die)
    with pytest.raises(KeyboardInterrupt):
        load_model(f5_reference)
    assert not (cache / "f5").exists() or not any(p for p in (cache / "f5").iterdir())
    monkeypatch.undo()
    shutil.rmtree(cache, ignore_errors=True)


def test_a_bigvgan_model_records_its_codec_and_speaks_through_it(f5_reference, cache, tmp_path):
    """F5TTS_Base_bigvgan's layout: a config beside the file names F5-TTS's mel type, as its yaml does."""
    pytest.importorskip("bigvgan")
    from codec import MelCodec
    from tts import Synthesizer

    folder = tmp_path / "F5TTS_Base_bigvgan"
    folder.mkdir()
    shutil.copy(f5_reference / "model.safetensors", folder / "model_1250000.safetensors")
    shutil.copy(f5_reference / "vocab.txt", folder / "vocab.txt")
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    (folder / "config.json").write_text(json.dumps({"model": {"arch": arch, "mel_spec": {"mel_spec_type": "bigvgan"}}}))
    model = load_model(folder)
    assert model.config.codec == f5.BIGVGAN_CODEC and f5.RELEASES["F5TTS_Base_bigvgan"].mel_type == "bigvgan"
    codec = MelCodec.from_pretrained(Path(__file__).parents[1] / "data" / "bigvgan_mel" / "bigvgan_tiny")
    tts = Synthesizer(model, codec, transcriber=lambda wav, sr: "unused")
    ref = torch.sin(torch.arange(48000) / 24000 * 2 * torch.pi * 220) * 0.3
    wav, sr = tts.synthesize("Hello there.", ref, 24000, "A tone.", nfe=2, seed=0)
    assert sr == 24000 and wav.shape[0] > 0 and torch.isfinite(wav).all()
    with pytest.raises(Exception, match="bigvgan|mel type"):
        Synthesizer(model, MelCodec.griffin_lim())
