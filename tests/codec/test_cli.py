import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codec.cli import main

REPO = Path(__file__).resolve().parents[2]


def write_wav(path: Path, seconds: float, sr: int = 22050, channels: int = 1) -> Path:
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal((int(seconds * sr), channels))).astype(np.float32), sr)
    return path


def test_encode_decode_file_round_trip(tiny_codec_dir, tmp_path):
    wav = write_wav(tmp_path / "a.wav", 1.0, channels=2)
    assert main(["encode", str(wav), str(tmp_path / "a.pt"), "--checkpoint", str(tiny_codec_dir)]) == 0
    record = torch.load(tmp_path / "a.pt")
    assert record["latent"].shape == ((16000 - 400) // 320 + 1, 128) and record["frame_rate"] == 50
    assert main(["decode", str(tmp_path / "a.pt"), str(tmp_path / "a_out.wav"), "--checkpoint", str(tiny_codec_dir)]) == 0
    out, sr = sf.read(tmp_path / "a_out.wav")
    assert sr == 16000 and len(out) == 320 * record["latent"].shape[0]


def test_directories_mirror_tree(tiny_codec_dir, tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    write_wav(tmp_path / "in" / "x.wav", 0.5)
    write_wav(tmp_path / "in" / "sub" / "y.flac", 0.7, sr=16000)
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    assert main(["encode", str(tmp_path / "in"), str(tmp_path / "lat"), "--checkpoint", str(tiny_codec_dir)]) == 0
    assert sorted(p.relative_to(tmp_path / "lat").as_posix() for p in (tmp_path / "lat").rglob("*.pt")) == \
        ["sub/y.pt", "x.pt"]
    assert main(["decode", str(tmp_path / "lat"), str(tmp_path / "wav"), "--checkpoint", str(tiny_codec_dir)]) == 0
    assert (tmp_path / "wav" / "sub" / "y.wav").is_file() and (tmp_path / "wav" / "x.wav").is_file()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codec", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.parametrize("case", ["unreadable", "empty", "missing_input", "bad_tensor", "missing_checkpoint"])
def test_errors_are_one_line_and_leave_no_output(tiny_codec_dir, tmp_path, case):
    out = tmp_path / "out.pt"
    if case == "unreadable":
        (tmp_path / "in.wav").write_bytes(b"RIFF not really a wav file")
        args = ["encode", str(tmp_path / "in.wav"), str(out), "--checkpoint", str(tiny_codec_dir)]
        expect = "cannot read audio file"
    elif case == "empty":
        sf.write(tmp_path / "in.wav", np.zeros((0,), np.float32), 16000)
        args = ["encode", str(tmp_path / "in.wav"), str(out), "--checkpoint", str(tiny_codec_dir)]
        expect = "empty"
    elif case == "missing_input":
        args = ["encode", str(tmp_path / "nothing.wav"), str(out), "--checkpoint", str(tiny_codec_dir)]
        expect = "input not found"
    elif case == "bad_tensor":
        torch.save({"latent": torch.zeros(10, 64)}, tmp_path / "in.pt")
        out = tmp_path / "out.wav"
        args = ["decode", str(tmp_path / "in.pt"), str(out), "--checkpoint", str(tiny_codec_dir)]
        expect = r"expected a latent of shape (N, 128)"
    else:
        write_wav(tmp_path / "in.wav", 0.5)
        args = ["encode", str(tmp_path / "in.wav"), str(out), "--checkpoint", str(tmp_path / "no-tiny_codec_dir")]
        expect = "codec checkpoint not found"
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], proc.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
