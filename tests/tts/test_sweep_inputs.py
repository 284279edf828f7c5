"""Issue 19, the TTS part: broken configs named by field, the CLI's output never its reference and a full disk
one error line, invisible characters and markup in the text, numbers of any length. Each test failed before
its fix."""
import json
import logging

import pytest
import soundfile as sf

from codec.checkpoint import CheckpointError
from tts.cli import main
from tts.model import TTSConfig, TTSModel
from tts.normalize import normalize_text
from tts import numbers

from ..codec.test_sweep_inputs import file_size_limit
from .conftest import randomized, speechlike


@pytest.fixture
def saved(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "tts")
    return tmp_path / "tts"


def edit_config(directory, edit) -> None:
    meta = json.loads((directory / "config.json").read_text())
    edit(meta["config"])
    (directory / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("field, value, message", [
    ("depth", "2", 'dit.depth must be a whole number, got "2"'),
    ("heads", 0, "dit: heads must be at least 1, got 0"),
    ("heads", 4.0, "dit.heads must be a whole number, got 4.0"),
    ("heads", None, "missing field dit.heads"),
    ("dim", 60, "dit: dim (60) must split into heads (4) of even size"),
])
def test_a_broken_tts_config_names_the_file_and_field(saved, field, value, message):
    def edit(config):
        if value is None:
            del config["dit"][field]
        else:
            config["dit"][field] = value

    edit_config(saved, edit)
    with pytest.raises(CheckpointError) as info:
        TTSModel.from_pretrained(saved)
    assert str(saved / "config.json") in str(info.value) and message in str(info.value)


def test_a_config_saved_before_later_fields_still_loads(saved, tiny_model):
    def edit(config):
        for key in ("codec", "vocab", "rules", "license"):
            config.pop(key, None)
        for key in ("text_layout", "backbone", "text_mask_padding", "rotary_heads", "stored_rotary_freqs"):
            config["dit"].pop(key, None)
        config["audio_drop_prob"] = 0  # an int where a float is wanted: fine

    edit_config(saved, edit)
    assert TTSModel.from_pretrained(saved).config.dit == tiny_model.config.dit


@pytest.fixture
def synth_args(tiny_codec, tmp_path):
    randomized(TTSModel(TTSConfig.tiny(tokenizer="char"))).save_pretrained(tmp_path / "tts")  # no g2p to load
    tiny_codec.save_pretrained(tmp_path / "codec")
    sf.write(tmp_path / "ref.wav", speechlike(2.0).numpy(), 16000)
    return ["synth", "--ref", str(tmp_path / "ref.wav"), "--ref-text", "hello there my friend", "--text", "Hi.",
            "--model", str(tmp_path / "tts"), "--codec", str(tmp_path / "codec"), "--device", "cpu", "--nfe", "2"]


def test_synth_never_writes_over_its_reference(synth_args, tmp_path, capsys):
    before = (tmp_path / "ref.wav").read_bytes()
    assert main(synth_args + ["--out", str(tmp_path / "ref.wav")]) == 2
    assert f"the output {tmp_path / 'ref.wav'} is the input {tmp_path / 'ref.wav'}" in capsys.readouterr().err
    assert (tmp_path / "ref.wav").read_bytes() == before


def test_synth_on_a_full_disk_is_one_error_line_and_no_file(synth_args, tmp_path, capsys):
    out = tmp_path / "out" / "speech.wav"
    out.parent.mkdir()
    with file_size_limit(1000):
        assert main(synth_args + ["--out", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error", "Traceback"))]
    assert errors == [f"error: {out}: File too large"]
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("text, spoken", [
    ("ex\u00adam\u200bple", "example"),  # soft hyphen, zero-width space
    ("ex\u200dam\u200cple\u2060s", "examples"),  # zero-width joiner, non-joiner, word joiner
    ("\ufeffhello", "hello"),  # byte-order mark
    ("\x1b[31mthirty\x1b[0m one", "thirty one"),  # ANSI colour
    ("bell\x07 and\x00 nul", "bell and nul"),  # control characters
    ('<speak>hello <break time="1s"/>there</speak>', "hello there"),  # SSML
    ("a <b>bold</b> word", "a bold word"),
])
def test_invisible_characters_and_markup_are_removed_not_spoken(text, spoken, caplog):
    with caplog.at_level(logging.WARNING):
        assert normalize_text(text) == spoken
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "removed" in warnings[0]


def test_a_less_than_sign_is_no_tag(caplog):
    with caplog.at_level(logging.WARNING):
        assert normalize_text("3 < 4 and 5 > 2") == "three four and five two"
    assert [r.getMessage() for r in caplog.records] == ["removed from the text, not spoken: characters that cannot "
                                                        "be spoken (< >)"]


@pytest.mark.parametrize("digits", [16, 400, 5000])
def test_long_numbers_are_read_digit_by_digit_within_a_bound(digits):
    written = "1234567890" * (digits // 10) + "123456"[: digits % 10]
    spoken = normalize_text(written)
    assert spoken.split()[:3] == ["one", "two", "three"]
    assert len(spoken) <= 6 * len(written)  # "seven " is the longest digit: 6 spoken characters per digit


def test_numbers_up_to_the_limit_are_read_as_numbers():
    assert numbers.MAX_NUMBER_DIGITS == 15
    assert normalize_text("123") == "one hundred twenty three"
    assert normalize_text("9" * 15).startswith("nine hundred ninety nine trillion")
    assert len(normalize_text("1" * 4400 + " and 5,000,000")) < 6 * 4420


def test_f5_text_loses_escapes_tags_and_invisibles_too(caplog):
    from tts.text import F5Tokenizer

    tokenizer = F5Tokenizer([" ", "a", "e", "l", "m", "p", "x"])
    with caplog.at_level(logging.WARNING):
        assert tokenizer.normalize("\x1b[1m<b>ex\u00adam\u200dple</b>\x1b[0m") == " example "
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_normalising_is_linear_in_the_texts_length():
    import time

    normalize_text("1")  # inflect's first import
    for unit in ["1,000", "9", "1.", "e.g.", "www.", " ", "ft. ", "U.S. ", "3 p.m. ", "Jr. ", "<a", "x@"]:
        start = time.perf_counter()
        normalize_text(unit * (20_000 // len(unit)))
        assert time.perf_counter() - start < 2.0, unit  # quadratic patterns took 4 to 14 s
