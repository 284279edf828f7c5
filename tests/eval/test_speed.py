import time

import pytest
import torch

from codec import WavCube, WavCubeConfig
from eval.speed import WORDS_PER_SECOND, bench_codec, bench_synthesize, measure, text_for

CPU = torch.device("cpu")


def test_measure_times_the_call_and_sees_memory():
    result = measure(lambda: time.sleep(0.02), CPU, repeats=3, warmup=0)
    assert 0.02 <= result["wall_s"] < 0.5
    before = measure(lambda: None, CPU, repeats=1, warmup=0)["peak_memory_mb"]

    def hold_64mb():
        block = torch.ones(64 * 2**20, dtype=torch.uint8)
        time.sleep(0.05)  # long enough for the 2 ms sampler to see it
        return block

    big = measure(hold_64mb, CPU, repeats=1, warmup=0)
    assert big["peak_memory_mb"] > before + 48
    assert "RSS" in big["memory"]


def test_text_length_follows_the_asked_duration():
    words = [len(text_for(s).split()) for s in (2, 10, 300)]
    assert words == [round(WORDS_PER_SECOND * s) for s in (2, 10, 300)]


def test_codec_rows_for_every_length_and_task():
    codec = WavCube(WavCubeConfig.tiny()).eval()
    rows = bench_codec(codec, [0.5, 1.0], CPU, repeats=1)
    assert [(r["task"], r["audio_s"]) for r in rows] == [
        ("encode", 0.5), ("decode", 0.5), ("encode", 1.0), ("decode", 1.0)]
    assert all(r["rtf"] == pytest.approx(r["wall_s"] / r["audio_s"]) and r["rtf"] > 0 for r in rows)


class _Echo:
    """Test double: returns one second of silence per 2.5 words."""

    def synthesize(self, text, ref_wav, ref_sr, ref_text=None, **options):
        return torch.zeros(int(16000 * len(text.split()) / 2.5)), 16000


def test_synthesis_rtf_uses_the_generated_duration():
    (row,) = bench_synthesize(_Echo(), [4.0], torch.zeros(16000), 16000, "ref", CPU, repeats=1)
    assert row["target_s"] == 4.0
    assert row["audio_s"] == pytest.approx(row["words"] / 2.5, rel=1e-3)
    assert row["rtf"] == pytest.approx(row["wall_s"] / row["audio_s"])
