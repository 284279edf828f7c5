"""tts.graphs: bucket padding changes no output (CPU); graphed bf16 sampling matches the plain path (CUDA)."""
import logging

import pytest
import torch

from tts import graphs
from tts.graphs import GraphedVelocity, bucket_batch, bucket_frames, fast_velocity, pad_to_buckets
from tts.model import TTSConfig, TTSModel

from .conftest import randomized

OPTIONS = {"nfe": 4, "cfg": 2.0, "sway": -1.0, "solver": "euler", "schedule": "uniform"}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def inputs(lengths=(37, 130, 90), prompt_lengths=(12, 40, 25), D=128, device="cpu"):
    """Three requests of different lengths, as Synthesizer builds them: noise zero past each length."""
    gen = torch.Generator().manual_seed(0)
    B, N, P = len(lengths), max(lengths), max(prompt_lengths)
    noise = torch.zeros(B, N, D)
    for i, n in enumerate(lengths):
        noise[i, :n] = torch.randn(n, D, generator=gen)
    prompt = torch.randn(B, P, D, generator=gen)
    text = torch.randint(1, 70, (B, 30), generator=gen)
    text[0, 20:] = 0
    args = (prompt, torch.tensor(prompt_lengths), text, torch.tensor(lengths), noise)
    return tuple(a.to(device) for a in args)


def test_buckets():
    assert [bucket_frames(n) for n in (1, 128, 129, 1500)] == [128, 128, 256, 1536]
    assert [bucket_batch(b) for b in (1, 2, 3, 5, 8, 9)] == [1, 2, 4, 8, 8, 16]
    with pytest.raises(ValueError, match="frame count must be positive, got 0"):
        bucket_frames(0)
    with pytest.raises(ValueError, match="batch size must be positive, got 0"):
        bucket_batch(0)


def test_padding_repeats_the_last_item_and_adds_zero_frames():
    prompt, prompt_lengths, text, lengths, noise = pad_to_buckets(*inputs())
    assert noise.shape == (4, 256, 128) and prompt.shape[0] == text.shape[0] == 4
    assert lengths.tolist() == [37, 130, 90, 90] and prompt_lengths.tolist() == [12, 40, 25, 25]
    assert torch.equal(noise[3], noise[2]) and not noise[:, 130:].any()


def test_bucket_padding_changes_no_output_on_cpu():
    model = randomized(TTSModel(TTSConfig.tiny()))
    args = inputs()
    plain = model.sample(*args, **OPTIONS)
    padded = graphs.sample(model, *args, **OPTIONS)
    assert padded.shape == plain.shape
    # Padding only adds masked frames and items: each real frame sees the same values; summation
    # order inside the kernels may change with the shape, hence float32 rounding, no more.
    torch.testing.assert_close(padded, plain, atol=1e-5, rtol=1e-5)


def test_cpu_samples_in_float32_and_says_so_once(caplog):
    model = TTSModel(TTSConfig.tiny())
    graphs._logged.discard("cpu")
    with caplog.at_level(logging.INFO, logger="tts.graphs"):
        assert fast_velocity(model) is None and fast_velocity(model) is None
    assert [r.message for r in caplog.records].count(
        "CUDA graphs and bf16 weights apply on CUDA only: sampling on cpu in float32") == 1
    with pytest.raises(ValueError, match="needs a DiT on a CUDA device, got one on cpu"):
        GraphedVelocity(model.dit)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@needs_cuda
def test_graphed_sampling_matches_the_plain_path_on_cuda():
    model = randomized(TTSModel(TTSConfig.tiny())).cuda()
    args = inputs(device="cuda")
    plain = model.sample(*args, **OPTIONS)  # float32 weights, no autocast
    runner = fast_velocity(model)
    fast = graphs.sample(model, *args, velocity=runner, **OPTIONS)
    assert runner.shapes == [(8, 256, 128)]  # 3 items → 4, twice for CFG; 130 frames → 256
    # bf16 weights and activations against float32: the stated bound, 5 % relative L2 error of the latents.
    assert relative_error(fast, plain) < 5e-2
    eager = graphs.sample(model, *args, velocity=GraphedVelocity(model.dit, capture=False), **OPTIONS)
    assert relative_error(fast, eager) < 1e-2  # replay ≈ the same bf16 kernels run eagerly
    again = graphs.sample(model, *args, velocity=runner, **OPTIONS)
    assert torch.equal(fast, again) and len(runner.shapes) == 1  # reused, deterministic
    graphs.sample(model, *inputs(lengths=(300,), prompt_lengths=(50,), device="cuda"), velocity=runner, **OPTIONS)
    assert sorted(runner.shapes) == [(2, 384, 128), (8, 256, 128)]


@needs_cuda
def test_changed_weights_reach_the_captured_graphs():
    model = randomized(TTSModel(TTSConfig.tiny())).cuda()
    args = inputs(device="cuda")
    runner = fast_velocity(model)
    before = graphs.sample(model, *args, velocity=runner, **OPTIONS)
    with torch.no_grad():
        model.dit.out_proj.bias.add_(0.5)
    after = graphs.sample(model, *args, velocity=runner, **OPTIONS)
    assert relative_error(after, model.sample(*args, **OPTIONS)) < 5e-2
    assert relative_error(after, before) > 0.05


@needs_cuda
def test_failed_capture_falls_back_to_eager_bf16_and_says_so(monkeypatch, caplog):
    model = randomized(TTSModel(TTSConfig.tiny())).cuda()
    args = inputs(device="cuda")
    runner = GraphedVelocity(model.dit)

    def refuse(*a, **k):
        raise RuntimeError("capture not supported here")

    monkeypatch.setattr(torch.cuda, "graph", refuse)
    with caplog.at_level(logging.WARNING, logger="tts.graphs"):
        out = graphs.sample(model, *args, velocity=runner, **OPTIONS)
        graphs.sample(model, *args, velocity=runner, **OPTIONS)
    assert runner.shapes == [] and not runner.capture
    assert sum("CUDA graph capture failed (capture not supported here)" in r.message for r in caplog.records) == 1
    assert relative_error(out, model.sample(*args, **OPTIONS)) < 5e-2


@needs_cuda
def test_synthesizer_uses_graphs_on_cuda_and_matches_its_plain_path():
    from codec import WavCube, WavCubeConfig
    from tts import Synthesizer

    from .conftest import speechlike

    torch.manual_seed(0)
    synth = Synthesizer(randomized(TTSModel(TTSConfig.tiny())).cuda(), WavCube(WavCubeConfig.tiny()).cuda().eval(),
                        transcriber=lambda wav, sr: "unused")
    ref, text, ref_text = speechlike(3.0), "Hello there, world.", "A reference sentence here."
    fast, _ = synth.synthesize(text, ref, 16000, ref_text, nfe=8, seed=1)
    assert fast_velocity(synth.model).shapes  # the graphed path ran
    synth.cuda_graphs = False
    plain, _ = synth.synthesize(text, ref, 16000, ref_text, nfe=8, seed=1)  # bf16 autocast, float32 weights
    assert fast.shape == plain.shape and relative_error(fast, plain) < 1e-1
