"""Parity with F5-TTS v1 on its own outputs (tests/data/f5_reference, see its README), and its checkpoints."""
import json
import shutil

import huggingface_hub
import pytest
import torch
from safetensors.torch import load_file, save_file

from codec import CheckpointError
from tts import f5_checkpoint as f5
from tts.loading import load_model
from tts.f5_checkpoint import MEL_CODEC, dit_config, load_f5_checkpoint
from tts.flow import base_timesteps
from tts.model import TTSModel
from tts.text import read_vocab


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def drops(key: str, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """'drop_audio=True,drop_text=False' → (B,) bool tensors for each."""
    flags = dict(part.split("=") for part in key.split(","))
    return tuple(torch.full((batch,), flags[name] == "True") for name in ("drop_audio", "drop_text"))


@pytest.fixture(scope="module")
def reference(f5_reference):
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    model = load_f5_checkpoint(f5_reference / "model.safetensors", f5_reference / "vocab.txt", arch)
    return model, torch.load(f5_reference / "cases.pt")


def test_converted_model_is_f5s(reference, f5_reference):
    model, _ = reference
    config = json.loads((f5_reference / "config.json").read_text())
    vocab = read_vocab(f5_reference / "vocab.txt")
    assert model.config.dit.latent_dim == config["mel_spec"]["n_mel_channels"]
    assert model.config.dit.text_vocab_size == config["text_num_embeds"] + 1 == len(vocab) + 1
    assert model.config.tokenizer == "f5" and model.config.vocab == tuple(vocab)
    assert model.config.codec == MEL_CODEC
    x = torch.randn(3, 100)
    torch.testing.assert_close(model.latent_norm.normalize(x), x, rtol=0, atol=0)  # F5 works on raw log-mel


def test_velocity_matches_f5(reference):
    model, cases = reference
    case = cases["forward"]
    B, N, _ = case["x"].shape
    mask = torch.ones(B, N, dtype=torch.bool)
    for key, expected in case["outputs"].items():
        drop_audio, drop_text = drops(key, B)
        with torch.no_grad():
            out = model.dit(case["x"], case["cond"], case["text"] + 1, case["time"], mask, drop_audio, drop_text)
        assert rel_err(out, expected) < 1e-5, key


def test_loss_matches_f5(reference):
    model, cases = reference
    case = cases["loss"]
    B, N, _ = case["x1"].shape
    mask = torch.arange(N)[None] < case["lens"][:, None]
    for key, expected in case["losses"].items():
        drop_audio, drop_text = drops(key, B)
        with torch.no_grad():
            loss, _ = model(case["x1"], mask, case["text"] + 1, span_mask=case["span_mask"], time=case["time"],
                            noise=case["noise"], drop_audio=drop_audio, drop_text=drop_text)
        assert rel_err(loss, expected) < 1e-5, key


def test_sampling_matches_f5(reference):
    model, cases = reference
    case = cases["sample"]
    B, P, _ = case["prompt"].shape
    for key, expected in case["results"].items():
        flags = dict(part.split("=") for part in key.split(","))
        steps, schedule = int(flags["steps"]), "epss" if flags["epss"] == "True" else "uniform"
        torch.testing.assert_close(base_timesteps(steps, schedule), expected["timesteps"].float())
        out = model.sample(case["prompt"], torch.full((B,), P), case["text"] + 1, torch.full((B,), case["duration"]),
                           case["noise"], nfe=steps, cfg=case["cfg_strength"], sway=case["sway"],
                           solver=case["solver"], schedule=schedule)
        assert rel_err(out, expected["output"]) < 1e-4, key


def test_pt_layouts_load_the_same(reference, f5_reference, tmp_path):
    """The training checkpoints' `.pt`: EMA weights preferred, a plain `model_state_dict` accepted."""
    model, _ = reference
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    ema = load_file(str(f5_reference / "model.safetensors"))
    plain = {k.removeprefix("ema_model."): v for k, v in ema.items() if k.startswith("ema_model.")}
    noise = {k: torch.randn_like(v) for k, v in plain.items()}
    torch.save({"ema_model_state_dict": ema, "model_state_dict": noise}, tmp_path / "ema.pt")
    torch.save({"model_state_dict": plain}, tmp_path / "plain.pt")
    for name in ("ema.pt", "plain.pt"):
        loaded = load_f5_checkpoint(tmp_path / name, f5_reference / "vocab.txt", arch)
        for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name}: {k}")


def test_loader_errors_name_the_problem(f5_reference, tmp_path):
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    vocab = read_vocab(f5_reference / "vocab.txt")
    with pytest.raises(CheckpointError, match="vocabulary has"):
        load_f5_checkpoint(f5_reference / "model.safetensors", vocab[:-1], arch)
    with pytest.raises(CheckpointError, match="not found"):
        load_f5_checkpoint(tmp_path / "missing.safetensors", vocab, arch)
    state = load_file(str(f5_reference / "model.safetensors"))
    save_file({**state, "ema_model.transformer.extra.weight": torch.zeros(1)}, str(tmp_path / "odd.safetensors"))
    with pytest.raises(CheckpointError, match="extra.weight"):
        load_f5_checkpoint(tmp_path / "odd.safetensors", vocab, arch)
    with pytest.raises(CheckpointError, match="qk_norm"):
        dit_config({**arch, "qk_norm": "rms_norm"}, len(vocab))
    with pytest.raises(CheckpointError, match="does not match"):  # an arch other than the checkpoint's
        load_f5_checkpoint(f5_reference / "model.safetensors", vocab, {**arch, "depth": arch["depth"] + 1})


def test_default_arch_is_v1_base():
    config = dit_config(None, 2545)
    assert (config.dim, config.depth, config.heads, config.ff_mult, config.text_dim, config.conv_layers,
            config.latent_dim, config.text_vocab_size) == (1024, 22, 16, 2, 512, 4, 100, 2546)


# Released checkpoints by name, path or hub id: converted once, cached, then loaded in our format.

def outputs(model: TTSModel) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x, cond = torch.randn(1, 20, 100, generator=gen), torch.randn(1, 20, 100, generator=gen)
    mask, keep = torch.ones(1, 20, dtype=torch.bool), torch.zeros(1, dtype=torch.bool)
    with torch.no_grad():
        return model.dit(x, cond, torch.tensor([[3, 4, 5]]), torch.tensor([0.5]), mask, keep, keep)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CUBETTS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_local_checkpoints_convert_once(reference, f5_reference, cache, monkeypatch):
    expected = outputs(reference[0])
    for source in (f5_reference / "model.safetensors", f5_reference):
        model = load_model(source)
        assert model.config.tokenizer == "f5" and model.config.codec == MEL_CODEC
        torch.testing.assert_close(outputs(model), expected, rtol=0, atol=0)
    assert len(list((cache / "f5").iterdir())) == 1  # one checkpoint, one conversion

    def fail(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(f5, "load_f5_checkpoint", fail)
    torch.testing.assert_close(outputs(load_model(f5_reference)), expected, rtol=0, atol=0)


def test_local_checkpoint_without_vocab(f5_reference, cache, tmp_path):
    (tmp_path / "ckpt").mkdir()
    shutil.copy(f5_reference / "model.safetensors", tmp_path / "ckpt" / "model_1.safetensors")
    with pytest.raises(CheckpointError, match="vocab.txt"):
        load_model(tmp_path / "ckpt" / "model_1.safetensors")


def fake_hub(root, calls):
    def snapshot_download(repo_id, revision=None, allow_patterns=None, **kwargs):
        calls.append((repo_id, sorted(allow_patterns)))
        return str(root)
    return snapshot_download


def test_hub_release_by_name_and_subfolder(reference, f5_reference, cache, tmp_path, monkeypatch):
    """The hub is mocked by a folder laid out as SWivid/F5-TTS, holding the fixture as a release."""
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    monkeypatch.setitem(f5.RELEASES, "Tiny_v1", f5.Release("Tiny_v1", "model_9.safetensors", arch))
    snapshot = tmp_path / "snapshot"
    (snapshot / "Tiny_v1").mkdir(parents=True)
    shutil.copy(f5_reference / "model.safetensors", snapshot / "Tiny_v1" / "model_9.safetensors")
    shutil.copy(f5_reference / "vocab.txt", snapshot / "Tiny_v1" / "vocab.txt")
    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_hub(snapshot, calls))
    expected = outputs(reference[0])
    for source, kwargs in (("Tiny_v1", {}), ("SWivid/F5-TTS", {"subfolder": "Tiny_v1"}),
                           ("hf://SWivid/F5-TTS/Tiny_v1", {})):
        torch.testing.assert_close(outputs(load_model(source, **kwargs)), expected, rtol=0, atol=0)
    assert calls == [("SWivid/F5-TTS", ["Tiny_v1/model_9.safetensors", "Tiny_v1/vocab.txt"])] * 3
    assert len(list((cache / "f5").iterdir())) == 1


def test_hub_release_offline_says_what_is_missing(cache, monkeypatch):
    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("outgoing traffic has been disabled")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError) as err:
        load_model("F5TTS_v1_Base")
    message = str(err.value)
    for needed in ("F5TTS_v1_Base/model_1250000.safetensors", "F5TTS_v1_Base/vocab.txt", "SWivid/F5-TTS",
                   "HF_HUB_OFFLINE"):
        assert needed in message
    with pytest.raises(CheckpointError, match="unknown F5-TTS release"):
        load_model("SWivid/F5-TTS/F5TTS_v9")
