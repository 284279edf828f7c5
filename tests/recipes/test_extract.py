import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codec import WavCube, load_audio
from recipes.extract_latents import extract
from recipes.manifest import read_manifest
from recipes.shards import (LatentDataset, ShardError, compute_stats, list_shards, load_codec_spec, load_stats,
                            read_index, shard_path, verify_shard)

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_extract_disjoint_shards_that_cover_the_manifest(clips_manifest, tiny_codec_dir, tmp_path):
    out = tmp_path / "latents"
    # `accelerate launch --cpu` starts one process unless mpirun is set up; its torchrun-based launcher
    # (`--multi_gpu`) starts two, and the script's own --cpu keeps them on the CPU (gloo).
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "recipes.extract_latents",
           "--manifest", str(clips_manifest), "--codec", str(tiny_codec_dir), "--out", str(out),
           "--shard-size", "3", "--workers", "0", "--cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    utts = read_manifest(clips_manifest)
    shards = list_shards(out)
    assert len(shards) == 3  # 8 utterances, 3 per shard
    assert "process 0 of 2: encoded shards [0, 2]" in result.stdout
    assert "process 1 of 2: encoded shards [1]" in result.stdout
    ids = [i for s in shards for i in read_index(s)["ids"]]
    assert ids == [u.id for u in utts]  # disjoint, complete, in manifest order
    stats = load_stats(out)
    expected = compute_stats(shards)
    torch.testing.assert_close(stats["mean"], expected.mean)
    torch.testing.assert_close(stats["std"], expected.std)


def test_shards_hold_the_codec_latents_and_rerun_skips_done_shards(latents, clips_manifest, tiny_codec_dir):
    utts = read_manifest(clips_manifest)
    data = LatentDataset(latents)
    codec = WavCube.from_pretrained(tiny_codec_dir)
    wav, sr = load_audio(utts[4].path)
    expected, _ = codec.encode(wav, sr)
    assert data.ids[4] == utts[4].id and data.texts[4] == utts[4].text
    assert data.lengths[4] == expected.shape[1] == (int(utts[4].duration * 16000) - 400) // 320 + 1
    torch.testing.assert_close(data[4]["latent"], expected[0], atol=1e-5, rtol=1e-4)  # batched vs alone

    redo = shard_path(latents, 1)
    kept = {p: p.stat().st_mtime_ns for p in list_shards(latents) if p != redo}
    redo.unlink()
    extract(clips_manifest, str(tiny_codec_dir), latents, shard_size=3, workers=0, cpu=True)
    assert redo.is_file()
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert LatentDataset(latents).ids == data.ids


def test_rerun_with_another_plan_is_refused(latents, clips_manifest, tiny_codec_dir):
    with pytest.raises(ValueError, match="another extraction"):
        extract(clips_manifest, str(tiny_codec_dir), latents, shard_size=4, workers=0, cpu=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_latents_extracted_on_cuda_are_float32_computations(clips_manifest, tiny_codec_dir, tmp_path, monkeypatch):
    out = tmp_path / "latents"
    cmd = [sys.executable, "-m", "recipes.extract_latents", "--manifest", str(clips_manifest), "--codec",
           str(tiny_codec_dir), "--out", str(out), "--shard-size", "8", "--workers", "0"]
    result = subprocess.run(cmd, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    stored = LatentDataset(out)[0]["latent"]
    assert stored.dtype == torch.float32
    utt = read_manifest(clips_manifest)[0]
    codec = WavCube.from_pretrained(tiny_codec_dir).cuda()
    wav, sr = load_audio(utt.path)
    codec.bf16 = True
    bf16, _ = codec.encode(wav, sr)
    codec.bf16 = False
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    fp32, _ = codec.encode(wav, sr)
    torch.testing.assert_close(stored, fp32[0].cpu(), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(stored, bf16[0].cpu(), atol=1e-5, rtol=1e-4)  # bf16 would have been told apart


def test_shards_record_their_codec(latents, tiny_codec_dir):
    assert load_codec_spec(latents) == WavCube.from_pretrained(tiny_codec_dir).spec()


def test_mel_extraction_records_the_mel_codec(clips_manifest, tiny_vocos, tmp_path):
    extract(clips_manifest, str(tiny_vocos), tmp_path, shard_size=8, workers=0, cpu=True)
    utts = read_manifest(clips_manifest)
    data = LatentDataset(tmp_path)
    samples_24k = round(utts[0].duration * 24000)
    assert data[0]["latent"].shape == (samples_24k // 256 + 1, 100)
    spec = load_codec_spec(tmp_path)
    assert (spec.kind, spec.source, spec.latent_dim, spec.frame_rate) == ("mel", str(tiny_vocos.resolve()), 100, 93.75)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_broken_shard_is_named_and_redone(latents, clips_manifest, tiny_codec_dir, capsys, damage):
    shard = shard_path(latents, 2)
    good = shard.read_bytes()
    index = read_index(shard)
    if damage == "truncate":
        shard.write_bytes(good[: len(good) - 100])
    else:  # same size, one latent byte changed: only the checksum sees it
        shard.write_bytes(good[:-8] + bytes(b ^ 0xFF for b in good[-8:]))
    with pytest.raises(ShardError, match=f"latent shard {shard} is (broken|corrupted)"):
        verify_shard(shard)
    if damage == "truncate":  # training names it too
        with pytest.raises(ShardError, match=str(shard)):
            LatentDataset(latents)
    extract(clips_manifest, str(tiny_codec_dir), latents, shard_size=3, workers=0, cpu=True)
    out = capsys.readouterr().out
    assert f"latent shard {shard}" in out and "redoing it" in out
    verify_shard(shard)
    assert read_index(shard) == index  # the same utterances, with the same frame counts
