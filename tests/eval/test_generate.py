from pathlib import Path

import pytest
import torch

from codec.audio import load_audio, save_audio
from eval.generate import GENERATION_RECORD, Synthesizer, generate_test_set, new_seconds, output_path
from eval.protocol import EvalPair, Utterance


class ToneSynthesizer:
    """Test double: a deterministic tone whose length and pitch follow the text; counts its calls."""

    sample_rate = 16000

    def __init__(self, batch: bool = False, fail_on: str | None = None):
        self.calls, self.batch_calls, self.batch_voices, self.fail_on = 0, 0, [], fail_on
        if batch:
            self.synthesize_batch = self._batch

    def synthesize(self, text, ref_wav, ref_sr, ref_text=None, **options):
        self.calls += 1
        assert ref_wav.dim() == 1 and ref_sr == 16000 and ref_text
        if text == self.fail_on:
            return torch.full((100,), float("nan")), self.sample_rate
        t = torch.arange(int(0.05 * len(text) * self.sample_rate)) / self.sample_rate
        gain = options.get("gain", 0.1)
        return gain * torch.sin(2 * torch.pi * (100 + len(text)) * t), self.sample_rate

    def _batch(self, texts, ref_wav, ref_sr, ref_text, seconds=None, **options):
        """tts.Synthesizer's signature: several texts, one voice → ([wav_i], sample_rate); `seconds` sets
        each one's length."""
        self.batch_calls += 1
        self.batch_voices.append(ref_text)
        wavs = [self.synthesize(t, ref_wav, ref_sr, ref_text, **options)[0] for t in texts]
        if seconds is not None:
            wavs = [0.1 * torch.ones(round(s * self.sample_rate)) for s in seconds]
        return wavs, self.sample_rate


@pytest.fixture
def pairs(tmp_path) -> list[EvalPair]:
    """Five targets on two prompts (A: 3 targets, B: 2), as in the cross-sentence lists."""
    prompts = []
    for name, seed in (("A", 0), ("B", 1)):
        save_audio(tmp_path / f"{name}.wav", 0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(seed)),
                   16000)
        prompts.append(Utterance(f"1-1-000{seed}", f"Prompt {name}.", tmp_path / f"{name}.wav", 1.0))
    return [EvalPair(prompts[i % 2], Utterance(f"1-1-{i:04d}", "word " * (i + 2), Path("unused.wav"), 4.0 + i))
            for i in range(2, 7)]


def test_writes_one_file_per_target_and_resumes(pairs, tmp_path):
    out = tmp_path / "wavs"
    synth = ToneSynthesizer()
    assert isinstance(synth, Synthesizer)
    stats = generate_test_set(synth, pairs, out, record={"model": "tone"})
    assert synth.calls == len(pairs) and stats["generated"] == len(pairs)
    assert all(output_path(out, p).is_file() for p in pairs)
    assert (out / GENERATION_RECORD).is_file()
    # a second run with the same settings generates nothing
    stats = generate_test_set(synth, pairs, out, record={"model": "tone"})
    assert synth.calls == len(pairs) and stats["already_present"] == len(pairs) and stats["generated"] == 0
    # a lost file is regenerated, and only that one
    output_path(out, pairs[2]).unlink()
    generate_test_set(synth, pairs, out, record={"model": "tone"})
    assert synth.calls == len(pairs) + 1
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_refuses_to_mix_settings(pairs, tmp_path):
    generate_test_set(ToneSynthesizer(), pairs[:2], tmp_path, record={"model": "tone"})
    with pytest.raises(ValueError, match="other settings"):
        generate_test_set(ToneSynthesizer(), pairs, tmp_path, record={"model": "tone"}, options={"gain": 0.2})
    with pytest.raises(ValueError, match="other settings"):
        generate_test_set(ToneSynthesizer(), pairs, tmp_path, record={"model": "another"})


def test_batched_generation_equals_one_at_a_time(pairs, tmp_path):
    single, batched = ToneSynthesizer(), ToneSynthesizer(batch=True)
    generate_test_set(single, pairs, tmp_path / "a", record={}, batch_size=1)
    generate_test_set(batched, pairs, tmp_path / "b", record={}, batch_size=2)
    # prompt A has 3 targets (a batch of 2, then 1 alone), prompt B has 2 (one batch); no batch mixes voices
    assert batched.batch_calls == 2 and batched.calls == 5
    assert sorted(batched.batch_voices) == ["Prompt A.", "Prompt B."]
    for p in pairs:
        a, _ = load_audio(output_path(tmp_path / "a", p))
        b, _ = load_audio(output_path(tmp_path / "b", p))
        assert torch.equal(a, b)


def test_options_reach_the_synthesizer(pairs, tmp_path):
    generate_test_set(ToneSynthesizer(), pairs[:1], tmp_path / "quiet", record={}, options={"gain": 0.05})
    generate_test_set(ToneSynthesizer(), pairs[:1], tmp_path / "loud", record={}, options={"gain": 0.2})
    quiet, _ = load_audio(output_path(tmp_path / "quiet", pairs[0]))
    loud, _ = load_audio(output_path(tmp_path / "loud", pairs[0]))
    assert loud.abs().max() > 2 * quiet.abs().max()


def test_bad_output_stops_with_its_id_and_writes_nothing_for_it(pairs, tmp_path):
    synth = ToneSynthesizer(fail_on=pairs[0].target.text)
    with pytest.raises(RuntimeError, match=pairs[0].id):
        generate_test_set(synth, pairs, tmp_path, record={})
    assert not output_path(tmp_path, pairs[0]).exists()


def test_durations_f5_and_truth_set_each_targets_length(pairs, tmp_path):
    pair = pairs[0]  # prompt "Prompt A." (9 bytes, 1 s; F5-TTS's eval adds a space: 10), target "word " × 4
    assert new_seconds(pair, "model") is None
    assert new_seconds(pair, "f5") == pytest.approx(1.0 / 10 * 20)
    assert new_seconds(pair, "f5", speed=2.0) == pytest.approx(1.0)
    assert new_seconds(pair, "truth") == pair.target.duration == 6.0
    with pytest.raises(ValueError, match="durations must be one of"):
        new_seconds(pair, "bytes")
    synth = ToneSynthesizer(batch=True)
    generate_test_set(synth, pairs, tmp_path / "truth", record={"model": "tone"}, batch_size=2, durations="truth")
    lengths = [load_audio(output_path(tmp_path / "truth", p))[0].numel() / 16000 for p in pairs]
    assert lengths == pytest.approx([p.target.duration for p in pairs])
    with pytest.raises(ValueError, match="other settings"):  # a folder of one kind of durations stays one kind
        generate_test_set(synth, pairs, tmp_path / "truth", record={"model": "tone"}, batch_size=2)
    with pytest.raises(ValueError, match="needs a synthesizer with synthesize_batch"):
        generate_test_set(ToneSynthesizer(), pairs, tmp_path / "f5", record={"model": "tone"}, durations="f5")
