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


@pytest.mark.parametrize("raw, expected", [
    ("KNOT 1.15 miles", "knot one point one five miles"),
    ("22 dogs, 3rd place.", "twenty two dogs third place"),
    ("It costs $3.50 at 5:30, 50% off", "it costs three dollars and fifty cents at five thirty fifty percent off"),
    ("in 1984 and 2,000", "in nineteen eighty four and two thousand"),
])
def test_numbers_are_spelled_as_words(raw, expected):
    assert normalize_text(raw) == expected


def test_digits_and_words_score_alike():
    assert normalize_text("Twenty-two, I said") != normalize_text("22 I said")  # a hyphenated word stays fused
    assert normalize_text("twenty two I said") == normalize_text("22 I said")


def test_idempotent():
    text = "It's the F5-TTS protocol: lower-case, no punctuation."
    assert normalize_text(normalize_text(text)) == normalize_text(text)
