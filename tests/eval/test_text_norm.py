import pytest

from eval.text_norm import normalize_text


@pytest.mark.parametrize("raw, expected", [
    ("Hello, World!", "hello world"),
    ("HE HOPED THERE WOULD BE STEW", "he hoped there would be stew"),
    # LibriSpeech-PC quirks: punctuation inside quotes, typographic quotes and dashes
    ('Miss Milner\'s health is not good"!', "miss milners health is not good"),
    ("“Well,” he said — slowly…", "well he said slowly"),
    # punctuation is deleted, not turned into a space (F5-TTS), so compounds fuse on both sides alike
    ("well-known", "wellknown"),
    ("  spaced \t out\n text ", "spaced out text"),
    ("", ""),
])
def test_normalize_text_cases(raw, expected):
    assert normalize_text(raw) == expected


def test_numbers_are_not_spelled_out():
    # the protocol does not verbalise digits: "1.15" and "one point one five" stay different
    assert normalize_text("KNOT 1.15 miles") == "knot 115 miles"


def test_idempotent():
    text = "It's the F5-TTS protocol: lower-case, no punctuation."
    assert normalize_text(normalize_text(text)) == normalize_text(text)
