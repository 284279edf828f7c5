"""Inference on CUDA: the same numbers as on CPU in fp32, close ones under bf16 autocast. Skipped without a GPU."""
import pytest
import torch

from codec import WavCube, WavCubeConfig, load_audio

from .test_reference import fixture_config, rel_err

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_reference_checkpoint_on_gpu_fp32_and_bf16(testdata):
    root = testdata / "wavcube_reference"
    codec = WavCube.from_pretrained(root / "checkpoint.ckpt", config=fixture_config(root)).cuda()
    expected = torch.load(root / "expected.pt")
    wav, sr = load_audio(root / "input_16k.wav")
    codec.bf16 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    latent, _ = codec.encode(wav, sr)
    assert rel_err(latent[0].cpu(), expected["latent"]) < 1e-4
    with torch.no_grad():
        out = codec.decode(expected["latent"][None].cuda())
    assert rel_err(out[0].cpu(), expected["waveform"]) < 1e-2
    codec.bf16 = True
    latent_bf16, _ = codec.encode(wav, sr)
    with torch.no_grad():
        out_bf16 = codec.decode(expected["latent"][None].cuda())
    assert latent_bf16.dtype == torch.float32 and out_bf16.dtype == torch.float32
    assert rel_err(latent_bf16[0].cpu(), expected["latent"]) < 5e-2
    assert rel_err(out_bf16[0].cpu(), expected["waveform"]) < 1e-1


def test_batch_invariance_on_gpu():
    torch.manual_seed(0)
    codec = WavCube(WavCubeConfig.tiny()).cuda().eval()
    codec.bf16 = False
    long, short = torch.randn(20000) * 0.1, torch.randn(9000) * 0.1
    batch, mask = codec.encode([long, short], 16000)
    alone, _ = codec.encode(short, 16000)
    n = alone.shape[1]
    torch.testing.assert_close(batch[1, :n], alone[0], atol=1e-4, rtol=1e-3)
    with torch.no_grad():
        torch.testing.assert_close(codec.decode(batch, mask)[1, : 320 * n], codec.decode(alone)[0], atol=1e-4, rtol=1e-3)
