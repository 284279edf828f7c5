"""F5-TTS's text, duration, loudness and join rules (tts/rules/f5.py), for models whose config names them."""
import json

import pytest
import torch

from tts import SynthesisOptions, Synthesizer, TextError
from tts import load_f5_checkpoint
from tts.options import OptionError
from tts.rules.f5 import SHORT_TEXT_BYTES, SHORT_TEXT_SPEED, crossfade, new_frames, reference_text, split_text
from tts.text import F5Tokenizer, build_tokenizer, read_vocab

from .conftest import speechlike


def test_tokenizer_gives_f5s_ids(f5_reference):
    case = torch.load(f5_reference / "cases.pt")["sample"]
    tok = F5Tokenizer(read_vocab(f5_reference / "vocab.txt"))
    chars = case["text_chars"][0]
    assert tok.tokenize("".join(chars)) == chars
    assert tok.ids(chars) == (case["text"][0] + 1).tolist()  # ours = F5-TTS's + 1; 0 is the filler


def test_tokenizer_rules():
    vocab = [" ", "a", "b", ",", "ni2", "hao3", '"', "'"]
    tok = build_tokenizer("f5", vocab)
    assert tok.vocab[0] == "<filler>" and tok.vocab[1:] == tuple(vocab)
    # unknown tokens get F5-TTS's id 0, the vocabulary's first line
    assert tok.encode("a?b") == [2, 1, 3]
    assert tok.tokenize("你好") == [" ", "ni2", " ", "hao3"]  # pinyin with tone numbers and sandhi
    assert tok.tokenize("ab,ab") == ["a", "b", ",", " ", "a", "b"]  # words the segmenter splits get a space
    # rjieba keeps hyphenated words and dates whole, as F5-TTS reads them (jieba split them: "a- b")
    assert tok.tokenize("a-b 2024-05-01") == list("a-b 2024-05-01")
    assert tok.tokenize("a; ‘b’ “a”") == ["a", ",", " ", "'", "b", "'", " ", '"', "a", '"']
    assert tok.normalize("a; 你好") == "a; 你好"  # F5-TTS's models read text as written
    with pytest.raises(TextError, match="empty"):
        tok.normalize("  ")
    with pytest.raises(ValueError, match="expected normalised text"):
        tok.tokenize("  ")
    with pytest.raises(ValueError, match="vocabulary"):
        build_tokenizer("f5")
    with pytest.raises(ValueError, match="fixed vocabulary"):
        build_tokenizer("phone", vocab)


def test_vocab_file_keeps_space_lines(tmp_path):
    (tmp_path / "vocab.txt").write_text(" \na\n,\n", encoding="utf-8")
    assert read_vocab(tmp_path / "vocab.txt") == [" ", "a", ","]


def test_reference_text_ends_a_sentence():
    assert reference_text("Some words") == "Some words.  "
    assert reference_text("Some words.") == "Some words.  "
    assert reference_text("Some words. ") == "Some words.  "
    assert reference_text("你好。") == "你好。"


def test_duration_rule():
    ref_text = reference_text("twenty or so bytes long")
    n = len(ref_text.encode())
    text = "a text long enough to be spoken at the reference rate"
    assert new_frames(300, ref_text, text, 1.0) == int(300 / n * len(text))
    assert new_frames(300, ref_text, text, 2.0) == int(300 / n * len(text) / 2)
    short = "x" * (SHORT_TEXT_BYTES - 1)
    assert new_frames(300, ref_text, short, 1.0) == int(300 / n * len(short) / SHORT_TEXT_SPEED)
    assert new_frames(300, ref_text, "é" * SHORT_TEXT_BYTES, 1.0) == int(300 / n * 2 * SHORT_TEXT_BYTES)  # bytes


def test_split_text_packs_clauses_up_to_the_limit():
    text = "One two three. Four five, six seven! Eight nine ten."
    assert split_text(text, 1000) == [text]
    chunks = split_text(text, 21)  # "Four five, " + "six seven!" is 21 bytes: one chunk
    assert chunks == ["One two three.", "Four five, six seven!", "Eight nine ten."]
    assert " ".join(chunks) == text
    assert split_text("你好。世界。", 6) == ["你好。", "世界。"]


def test_linear_crossfade():
    a, b = torch.ones(100), torch.zeros(100)
    out = crossfade([a, b], 100, 0.2)
    assert out.shape == (180,) and out.dtype == torch.float32
    torch.testing.assert_close(out[100 - 20:100], torch.linspace(1, 0, 20))
    # F5-TTS's overlap is cut only by the pieces' whole lengths, not half of them
    assert crossfade([torch.ones(10), torch.ones(30)], 100, 0.2).shape == (30,)


class StandInMelCodec:
    """A test double with MelCodec's shape contract (24 kHz, hop 256, 100-d latents): each latent frame
    holds the frame's first 100 samples, and decoding repeats each frame's mean. Both are linear."""

    kind, sample_rate, hop_length, latent_dim, mel_type = "mel", 24000, 256, 100, "vocos"
    frame_rate = 24000 / 256
    device = torch.device("cpu")

    def __init__(self):
        self.encoded: list[torch.Tensor] = []

    def eval(self):
        return self

    def encode(self, wav: torch.Tensor, sr: int):
        self.encoded.append(wav)
        frames = wav.shape[-1] // self.hop_length + 1
        padded = torch.nn.functional.pad(wav.reshape(-1), (0, frames * self.hop_length - wav.shape[-1]))
        latent = padded.view(frames, self.hop_length)[:, : self.latent_dim][None]  # (1, P, 100)
        return latent, torch.ones(1, frames, dtype=torch.bool)

    def decode(self, latent: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return latent.mean(-1).repeat_interleave(self.hop_length, dim=1)  # (B, N * hop)


@pytest.fixture(scope="module")
def f5_model(f5_reference):
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    return load_f5_checkpoint(f5_reference / "model.safetensors", f5_reference / "vocab.txt", arch)


def f5_synth(model) -> Synthesizer:
    return Synthesizer(model, StandInMelCodec(), transcriber=lambda wav, sr: "unused",
                       options=SynthesisOptions(nfe=4, seed=3))


def rms(wav: torch.Tensor) -> float:
    return wav.pow(2).mean().sqrt().item()


def test_f5_models_plan_by_f5s_rules(f5_model):
    tts = f5_synth(f5_model)
    ref = speechlike(2.0, 24000)
    r = tts.prepare_reference(ref, 24000, "hello world", tts.options)
    assert r.text == "hello world.  "
    text = "this is a test, and here are more words. short."
    pieces = tts.plan(0, text, r, tts.options)
    ref_frames = r.wav.shape[0] // 256  # F5-TTS counts T // hop prompt frames, not the mel's T // hop + 1
    assert r.frames == ref_frames and r.latent.shape[0] == ref_frames + 1
    assert [p.text for p in pieces] == [text]
    assert pieces[0].length == ref_frames + new_frames(ref_frames, r.text, text, 1.0)
    pieces = tts.plan(0, text, r, tts.options.replace(max_chunk_seconds=1.0))
    assert len(pieces) > 1 and " ".join(p.text for p in pieces) == text
    assert [p.length for p in pieces] == [ref_frames + new_frames(ref_frames, r.text, p.text, 1.0) for p in pieces]


def test_f5_models_normalise_quiet_references(f5_model):
    tts = f5_synth(f5_model)
    ref = speechlike(2.0, 24000)
    ref = ref / rms(ref)
    quiet, quieter, _ = (tts.synthesize("hello world.", ref * g, 24000, "hello world")[0] for g in (0.02, 0.01, 0.2))
    # both quiet references are encoded at F5-TTS's loudness, measured on the clip with its 50 ms of silence
    for wav in tts.codec.encoded[:2]:
        assert abs(rms(wav) - 0.1) < 2e-3
    assert abs(rms(tts.codec.encoded[2]) - 0.2) < 5e-3  # a loud one is left as it is
    torch.testing.assert_close(quiet, 2 * quieter, rtol=1e-4, atol=1e-6)  # and the output given its level back


def test_seconds_ask_for_that_much_new_speech_in_f5s_terms(f5_model):
    tts = f5_synth(f5_model)
    ref = speechlike(2.0, 24000)
    (a, b), sr = tts.synthesize_batch(["hello world.", "a longer text, said in the same voice."], ref, 24000,
                                      "hello world", seconds=[1.0, 0.5])
    hop = tts.codec.hop_length
    assert (a.numel(), b.numel()) == (round(1.0 * sr / hop) * hop, round(0.5 * sr / hop) * hop)
    for bad in (-1.0, 0.0, float("nan")):  # in F5-TTS's terms (the reference added) -1 s would pass unseen
        with pytest.raises(OptionError, match="duration must be a number from 0.1"):
            tts.synthesize_batch(["hello world."], ref, 24000, "hello world", seconds=[bad])
