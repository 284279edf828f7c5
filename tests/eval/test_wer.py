import pytest

from eval.wer import summarize_wer, utterance_wer


@pytest.mark.parametrize("ref, hyp, s, d, i, n", [
    ("the cat sat on the mat", "the cat sat on the mat", 0, 0, 0, 6),
    ("the cat sat on the mat", "the cat sit on the mat", 1, 0, 0, 6),
    ("the cat sat on the mat", "the cat on the mat", 0, 1, 0, 6),
    ("the cat sat", "the big cat sat down", 0, 0, 2, 3),
    ("a b c", "", 0, 3, 0, 3),
])
def test_known_pairs(ref, hyp, s, d, i, n):
    u = utterance_wer(ref, hyp)
    assert (u.substitutions, u.deletions, u.insertions, u.reference_words) == (s, d, i, n)
    assert u.wer == pytest.approx((s + d + i) / n)


def test_normalisation_applies_to_both_sides():
    assert utterance_wer("He said: \"Hello, World!\"", "he said hello world").wer == 0.0
    assert utterance_wer("HE SAID HELLO", "He said, hello.").wer == 0.0


def test_insertions_can_exceed_one():
    assert utterance_wer("yes", "yes yes yes yes").wer == pytest.approx(3.0)


def test_empty_reference_is_rejected():
    with pytest.raises(ValueError, match="no words"):
        utterance_wer(" ... ", "anything")


def test_mean_and_corpus_differ_as_defined():
    refs = ["one two three four five six seven eight nine ten", "short one"]
    hyps = ["one two three four five six seven eight nine ten", "short two"]
    summary = summarize_wer(refs, hyps)
    # utterance WERs 0 and 1/2: mean 0.25; corpus 1 error / 12 words
    assert summary.mean_utterance_wer == pytest.approx(0.25)
    assert summary.corpus_wer == pytest.approx(1 / 12)
    assert [u.wer for u in summary.utterances] == pytest.approx([0.0, 0.5])


def test_corpus_wer_is_word_weighted_mean():
    refs = ["a b c d", "e f", "g h i j k l"]
    hyps = ["a x c", "e f g", "g h i j k l"]
    s = summarize_wer(refs, hyps)
    weights = [u.reference_words for u in s.utterances]
    weighted = sum(u.wer * w for u, w in zip(s.utterances, weights)) / sum(weights)
    assert s.corpus_wer == pytest.approx(weighted)


def test_mismatched_lengths_fail():
    with pytest.raises(ValueError):
        summarize_wer(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        summarize_wer([], [])
