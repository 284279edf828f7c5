import csv
import logging

import pytest

from tts.g2p import PHONES, G2P, load_g2p
from tts.text import (CharTokenizer, PhoneTokenizer, TextError, build_tokenizer, normalize_text, split_long,
                      split_sentences)

_ = " "  # word boundary token

# Phones from the CMU lexicon (and, for made-up words, g2p_en's neural model, as its own code gives them).
PHONE_TABLE = [
    ("Hello, world!", "HH AH0 L OW1 , _ W ER1 L D !"),
    ("I have 2 cats.", "AY1 _ HH AE1 V _ T UW1 _ K AE1 T S ."),
    ("It costs $5?", "IH1 T _ K AA1 S T S _ F AY1 V _ D AA1 L ER0 Z ?"),
    ("Dr. Who", "D AA1 K T ER0 _ HH UW1"),
    ("In 1984", "IH0 N _ N AY1 N T IY1 N _ EY1 T IY0 _ F AO1 R"),
    ("the 3rd", "DH AH0 _ TH ER1 D"),
    ("Wait... what?!", "W EY1 T . _ W AH1 T !"),
    ("zorblax", "Z AO1 R B AH0 L K S"),
    ("A flibbertigibbet; quixotically!", "AH0 _ F L IH1 B ER0 T IH0 JH AH0 T , _ K W IH0 K S AA1 T S IH0 K L IY0 !"),
]

NORMALIZE_TABLE = [
    ("Dr. Smith paid $3.50 at 3:30.", "doctor smith paid three dollars and fifty cents at three thirty."),
    ("In 1984, 25% of 1,000 people—mostly kids—said \"no\".",
     "in nineteen eighty four, twenty five percent of one thousand people, mostly kids, said no."),
    ("the 21st (approx.) of May...", "the twenty first, approximately, of may."),
    ("It's -5 degrees; COVID-19 is well-known.", "it's minus five degrees, covid nineteen is well known."),
    ("Café & crème, e.g. 2.5 kg", "cafe and creme, for example two point five kilograms"),
    ("Pages 5-10, No. 7, 2005 and 1900", "pages five to ten, number seven, two thousand five and nineteen hundred"),
    ("£2.05 or €1", "two pounds and five pence or one euro"),
    ("Apples, pears, etc.", "apples, pears, et cetera."),
]


@pytest.mark.parametrize("text, phones", PHONE_TABLE)
def test_phone_sequences(text, phones):
    expected = [_ if p == "_" else p for p in phones.split()]
    tok = PhoneTokenizer()
    assert tok.tokenize(tok.normalize(text)) == expected


@pytest.mark.parametrize("raw, normalized", NORMALIZE_TABLE)
def test_normalization(raw, normalized):
    assert normalize_text(raw) == normalized
    assert normalize_text(normalized) == normalized  # idempotent: chunks are re-tokenised


def test_unspeakable_characters_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="tts.normalize"):
        assert normalize_text("hi 你好 there") == "hi there"
    assert "你" in caplog.text


@pytest.mark.parametrize("tokenizer", [PhoneTokenizer(), CharTokenizer()])
@pytest.mark.parametrize("text, message", [("", "empty"), ("   \n", "empty"), ("?!...", "nothing speakable"),
                                            ("— « » ♪", "nothing speakable"), ("你好", "nothing speakable")])
def test_bad_text_raises(tokenizer, text, message):
    with pytest.raises(TextError, match=message):
        tokenizer.normalize(text)


@pytest.mark.parametrize("tokenizer", [PhoneTokenizer(), CharTokenizer()])
@pytest.mark.parametrize("raw", ["Hello.", "two 2", "hi 你好", "", " , "])
def test_tokenize_and_encode_take_only_normalised_text(tokenizer, raw):
    """Normalising happens once, in `normalize`: raw text given to `tokenize` or `encode` is an error, not
    silently tokenised without its capitals, digits or symbols."""
    for method in (tokenizer.tokenize, tokenizer.encode):
        with pytest.raises(ValueError, match="expected normalised text"):
            method(raw)


def test_char_tokenizer():
    tok = CharTokenizer()
    text = tok.normalize("Hi, Bob's 2!")
    assert text == "hi, bob's two!" and tok.tokenize(text) == list(text)
    ids = tok.encode(text)
    assert 0 not in ids and [tok.vocab[i] for i in ids] == list(text)
    assert tok.count_units(tok.tokenize(text)) == 9  # letters only: h i b o b s t w o


def test_phone_ids_and_units():
    tok = build_tokenizer("phone")
    tokens = tok.tokenize(tok.normalize("Hello, world!"))
    assert tok.count_units(tokens) == 8
    ids = tok.encode("hello, world!")
    assert 0 not in ids and [tok.vocab[i] for i in ids] == tokens
    assert len(set(tok.vocab)) == len(tok.vocab) and set(PHONES) <= set(tok.vocab)
    with pytest.raises(ValueError, match="unknown tokenizer"):
        build_tokenizer("bytes")


def test_homographs_fixed_reading_without_tagger_and_by_pos_with_one():
    g2p = load_g2p()
    reading_if_verb, reading_else, pos = g2p.homographs["refuse"]
    assert g2p.word("refuse", None) == reading_else  # no tagger: the table's fixed reading
    assert g2p.word("refuse", pos + "B") == reading_if_verb
    assert g2p.word("refuse", "NN") == reading_else


def test_missing_tagger_is_said_once(caplog):
    with caplog.at_level(logging.WARNING, logger="tts.g2p"):
        g2p = G2P()
        g2p(["i", "read", "it"])
        g2p(["we", "live", "here"])
    if g2p.tagger is None:
        assert caplog.text.count("averaged_perceptron_tagger") == 1
    else:
        assert "averaged_perceptron_tagger" not in caplog.text


def test_sentences_and_long_splits():
    assert split_sentences("one two. three? four") == ["one two.", "three?", "four"]
    parts = split_long("a b c, d e f g h, i", max_words=4)
    assert parts == ["a b c,", "d e f g", "h, i"]
    assert all(len(p.split()) <= 4 for p in parts)


def test_real_transcripts_tokenize(testdata):
    with open(testdata / "realspeech" / "manifest.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    tok = PhoneTokenizer()
    for row in rows:
        tokens = tok.tokenize(tok.normalize(row["transcript"]))
        assert tok.count_units(tokens) >= len(row["transcript"].split()), row["id"]
