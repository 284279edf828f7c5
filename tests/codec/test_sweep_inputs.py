"""Issue 19, the codec's part: resampling at any rate in bounded memory, audio whose header does not know its
length, sample rates below the minimum. Each test failed before its fix."""
import math
import os
import resource
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from codec import WavCube, WavCubeConfig
from codec import audio
from codec.audio import AudioError, audio_duration, checked_rate, load_audio, resample
from codec.cli import main as codec_main
from tts import Synthesizer, SynthesisOptions
from tts.model import TTSConfig, TTSModel

from ..conftest import randomized, speechlike

ODD_RATE = 44_101  # 11 × 19 × 211: torchaudio's kernel for 44,101 → 16,000 alone holds 706 M weights (2.8 GB)


@contextmanager
def address_space(extra_bytes: int):
    """Let this process map at most `extra_bytes` more than it has now (RLIMIT_AS, as `prlimit --as` sets it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    limit = pages * resource.getpagesize() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> torch.Tensor:
    return (amplitude * torch.sin(2 * math.pi * freq * torch.arange(int(seconds * rate), dtype=torch.float64)
                                  / rate)).float()


@pytest.mark.parametrize("target", [16000, 24000])
def test_resampling_from_an_odd_rate_keeps_frequency_and_amplitude(target):
    wav = sine(1000.0, 3.0, ODD_RATE)
    with address_space(500 * 2**20):
        out = resample(wav, ODD_RATE, target)
    assert out.shape == (math.ceil(target * wav.numel() / ODD_RATE),)
    ideal = sine(1000.0, out.numel() / target, target)  # output sample j is the input at time j / target
    middle = slice(target // 10, -target // 10)  # away from the zero-padded ends
    assert (out[middle] - ideal[middle]).abs().max() < 1e-3  # 0.2 % of the amplitude: frequency and level right


@pytest.mark.parametrize("orig, target", [(44100, 16000), (11025, 16000), (16000, 44100), (44056, 16000)])
def test_direct_path_is_torchaudios_filter(orig, target, monkeypatch):
    """The bounded path computes torchaudio's own filter: forced onto rates torchaudio can do, it gives
    torchaudio's float64 result to within float32 rounding."""
    import codec.audio

    wav = torch.randn(2, orig) * 0.3
    monkeypatch.setattr(codec.audio, "RESAMPLE_KERNEL_LIMIT", 0)
    monkeypatch.setattr(codec.audio, "RESAMPLE_CHUNK", 5000)  # several pieces
    out = resample(wav, orig, target)
    expected = AF.resample(wav.double(), orig, target)
    assert out.shape == expected.shape and out.dtype == torch.float32
    assert (out.double() - expected).abs().max() < 2e-6


@pytest.mark.parametrize("orig, target", [(44100, 16000), (48000, 16000), (22050, 16000), (24000, 16000),
                                          (16000, 24000), (8000, 16000), (44100, 24000)])
def test_common_rates_resample_as_before(orig, target):
    wav = torch.randn(orig)
    assert torch.equal(resample(wav, orig, target), AF.resample(wav, orig, target))


def test_encoding_and_synthesising_from_an_odd_rate_fit_in_bounded_memory(tmp_path):
    """The issue's 6 GB `prlimit --as` check, in process and tighter: 1 GB more than the tiny models hold."""
    torch.manual_seed(0)
    codec = WavCube(WavCubeConfig.tiny()).eval()
    synthesizer = Synthesizer(randomized(TTSModel(TTSConfig.tiny())), codec, options=SynthesisOptions(nfe=2))
    path = tmp_path / "odd.wav"
    sf.write(path, speechlike(3.0, ODD_RATE).numpy(), ODD_RATE)
    with address_space(2**30):
        wav, sr = load_audio(path)
        latent, _ = codec.encode(wav, sr)
        speech, out_sr = synthesizer.synthesize("Hello there.", str(path), ref_text="hello there, my friend.")
    assert sr == ODD_RATE and latent.shape[1] == (3 * 16000 - 400) // 320 + 1
    assert out_sr == codec.sample_rate and speech.numel() > 0


def streaming_flac(path: Path, wav: np.ndarray, rate: int) -> Path:
    """A valid FLAC whose STREAMINFO says 0 total samples (and no MD5), as streaming encoders write it."""
    sf.write(path, wav, rate, format="FLAC")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first, its 34 bytes from offset 8
    fields = int.from_bytes(data[18:26], "big") & ~((1 << 36) - 1)  # rate, channels, bits | 36-bit total samples
    data[18:26] = fields.to_bytes(8, "big")
    data[26:42] = bytes(16)
    path.write_bytes(data)
    return path


def test_a_flac_without_its_length_is_measured_from_its_stream(tmp_path):
    wav = speechlike(10.0).numpy()
    path = streaming_flac(tmp_path / "stream.flac", wav, 16000)
    assert sf.info(str(path)).frames != len(wav)  # the header does not know
    assert audio_duration(path) == pytest.approx(10.0)
    assert 1.0 < audio_duration(path, at_most=1.0) < 6.0  # counting stops within a block past the limit
    loaded, sr = load_audio(path)
    assert sr == 16000 and loaded.shape == (len(wav),)
    assert (loaded - torch.from_numpy(wav)).abs().max() < 1e-4  # 16-bit FLAC


def test_sample_rates_below_the_minimum_are_refused(tmp_path):
    assert audio.MIN_SAMPLE_RATE == 4000 and checked_rate(4000) == 4000 and checked_rate(8000) == 8000
    with pytest.raises(AudioError, match="ref_sr is 1 Hz; audio below 4000 Hz"):
        checked_rate(1, "ref_sr")
    path = tmp_path / "one_hertz.wav"
    sf.write(path, np.full(5, 0.5, np.float32), 1)
    with pytest.raises(AudioError, match=r"one_hertz.wav is 1 Hz; audio below 4000 Hz"):
        load_audio(path)
    with pytest.raises(AudioError, match="below 4000 Hz"):
        WavCube(WavCubeConfig.tiny()).encode(torch.randn(3 * 3000), 3000)


@contextmanager
def file_size_limit(limit_bytes: int):
    """Writes past `limit_bytes` fail with EFBIG, as writes to a full disk fail with ENOSPC: at the OS, below
    every writer (Python's, libsndfile's, torch's zip writer)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the signal kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".*"))


def one_error_line(capsys, *expected: str) -> str:
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if "file/s]" not in line]  # not tqdm's
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(e in lines[0] for e in expected), lines[0]
    return lines[0]


def test_encode_refuses_two_inputs_for_one_output(tiny_codec_dir, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for suffix in (".wav", ".flac", ".ogg"):
        sf.write(tmp_path / "in" / f"ref{suffix}", speechlike(1.0).numpy(), 16000)
    out = tmp_path / "out"
    assert codec_main(["encode", str(tmp_path / "in"), str(out), "--checkpoint", str(tiny_codec_dir)]) == 2
    one_error_line(capsys, "two inputs would be written to one output", "ref.pt", "ref.flac", "ref.ogg")
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize("link", ["same", "hard"])
def test_no_cli_writes_over_its_input(tiny_codec_dir, tmp_path, capsys, link):
    victim = tmp_path / "victim.pt"  # audio under a name encode may write (libsndfile reads it by its header)
    sf.write(victim, speechlike(1.0).numpy(), 16000, format="WAV")
    out = victim
    if link == "hard":
        out = tmp_path / "other.pt"
        os.link(victim, out)
    before = victim.read_bytes()
    assert codec_main(["encode", str(victim), str(out), "--checkpoint", str(tiny_codec_dir)]) == 2
    one_error_line(capsys, f"the output {out} is the input {victim}")
    assert victim.read_bytes() == before


@pytest.mark.parametrize("command, out, suffix", [("encode", "out.txt", ".pt"), ("encode", "out.wav", ".pt"),
                                                  ("decode", "out.txt", ".wav")])
def test_only_writable_output_suffixes(tiny_codec_dir, tmp_path, capsys, command, out, suffix):
    src = tmp_path / "in.wav"
    sf.write(src, speechlike(1.0).numpy(), 16000)
    if command == "decode":
        src = tmp_path / "in.pt"
        torch.save({"latent": torch.zeros(10, 128)}, src)
    assert codec_main([command, str(src), str(tmp_path / out), "--checkpoint", str(tiny_codec_dir)]) == 2
    one_error_line(capsys, out, suffix)
    assert not (tmp_path / out).exists()


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_a_full_disk_is_one_error_line_and_no_file(tiny_codec_dir, tmp_path, capsys, command):
    (tmp_path / "in").mkdir()
    for name in ("a", "b"):
        sf.write(tmp_path / "in" / f"{name}.wav", speechlike(10.0).numpy(), 16000)
    if command == "decode":
        for name in ("a", "b"):
            torch.save({"latent": torch.randn(500, 128)}, tmp_path / "in" / f"{name}.pt")
            (tmp_path / "in" / f"{name}.wav").unlink()
    out = tmp_path / "out"
    with file_size_limit(100_000):  # a's latent (250 KB) or audio (320 KB) does not fit
        code = codec_main([command, str(tmp_path / "in"), str(out), "--checkpoint", str(tiny_codec_dir)])
    assert code == 2
    one_error_line(capsys, f"{out / 'a'}", "File too large")
    assert not [p for p in out.rglob("*") if p.is_file()] and not leftovers(tmp_path)


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_every_file_we_write_gets_the_umasks_mode(tmp_path, mask, mode):
    from codec.audio import save_audio

    with umask(mask):
        WavCube(WavCubeConfig.tiny()).save_pretrained(tmp_path / "codec")
        save_audio(tmp_path / "a.wav", torch.zeros(1600), 16000)
    written = [tmp_path / "codec" / "model.safetensors", tmp_path / "codec" / "config.json", tmp_path / "a.wav"]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(mode) for p in written}


@pytest.mark.parametrize("change, message", [
    ({"layers": "2"}, 'decoder.layers must be a whole number, got "2"'),
    ({"heads": 0}, "decoder: heads must be at least 1, got 0"),
    ({"heads": 4.0}, "decoder.heads must be a whole number, got 4.0"),
    ({"heads": True}, "decoder.heads must be a whole number, got True"),
    ({"heads": None}, "missing field decoder.heads"),
    ({"d_model": 30}, "decoder: d_model (30) must be an even multiple of heads (2)"),
    ({"vocoder_window": [40]}, "decoder.vocoder_window must hold 2 values, got [40]"),
    ({"depth": 2}, "unknown field decoder.depth"),
    ({"causal": 1}, "decoder.causal must be true or false, got 1"),
])
def test_a_broken_codec_config_names_the_file_and_field(tiny_codec_dir, tmp_path, change, message):
    import json
    import shutil

    from codec.checkpoint import CheckpointError

    broken = tmp_path / "codec"
    shutil.copytree(tiny_codec_dir, broken)
    meta = json.loads((broken / "config.json").read_text())
    decoder = meta["config"]["decoder"]
    for key, value in change.items():
        if value is None:
            del decoder[key]
        else:
            decoder[key] = value
    (broken / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as info:
        WavCube.from_pretrained(broken)
    assert str(info.value).startswith(f"codec checkpoint file {broken / 'config.json'} is broken: {message}")


def test_the_config_validator_checks_types_not_just_names():
    import dataclasses

    from codec.checkpoint import ConfigError, config_from_dict

    @dataclasses.dataclass(frozen=True)
    class Inner:
        pair: tuple[float, float] = (0.5, 1.0)
        names: tuple[str, ...] | None = None

    @dataclasses.dataclass(frozen=True)
    class Outer:
        inner: Inner
        rate: float
        count: int = 1
        note: str | None = None

    built = config_from_dict(Outer, {"inner": {"pair": [1, 2], "names": ["a"]}, "rate": 3, "count": 2, "note": None})
    assert built == Outer(Inner((1.0, 2.0), ("a",)), 3.0, 2) and isinstance(built.rate, float)
    assert config_from_dict(Outer, {"inner": {"pair": [1, 2]}, "rate": 1.5}, optional=("count", "note",
                                                                                       "inner.names")).count == 1
    for data, message in [
        ({"inner": {"pair": [1, 2]}, "rate": 1.5, "count": 1, "note": None}, "f.json: missing field inner.names"),
        ({"inner": {"pair": [1, "2"], "names": None}, "rate": 1.5, "count": 1, "note": None},
         'f.json: inner.pair[1] must be a finite number, got "2"'),
        ({"inner": {"pair": [1, 2], "names": None}, "rate": float("nan"), "count": 1, "note": None},
         "f.json: rate must be a finite number, got nan"),
        ({"inner": [], "rate": 1.5, "count": 1, "note": None}, "f.json: inner must be an object of fields, got []"),
        ({"inner": {"pair": [1, 2], "names": [3]}, "rate": 1.5, "count": 1, "note": None},
         "f.json: inner.names[0] must be a string, got 3"),
        ([], "f.json: Outer must be an object of fields, got []"),
    ]:
        with pytest.raises(ConfigError) as info:
            config_from_dict(Outer, data, "f.json")
        assert str(info.value) == message
        assert isinstance(info.value, ValueError)
