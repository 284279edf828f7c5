import hashlib
import math

import numpy as np
import pytest
import soundfile as sf

from eval.protocol import (DEFAULT_PAIR_LIST, F5_LIST_SOURCE, PROMPT_RANGE_S, TARGET_RANGE_S,
                           build_cross_sentence_pairs, librispeech_audio_path, read_librispeech, read_pair_list,
                           sentence_case, sha256_of, write_pair_list)

def write_tone(path, seconds: float, sample_rate: int = 16000) -> None:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(str(path), (0.1 * np.sin(2 * math.pi * 220.0 * t)).astype(np.float32), sample_rate)


# A fake LibriSpeech test-clean: speaker → chapter → (utterance index, seconds)
FAKE_TREE = {
    "100": {"1000": [(0, 3.0), (1, 6.0), (2, 9.5), (3, 12.0)], "1001": [(0, 4.5), (1, 2.2)]},
    "200": {"2000": [(0, 5.5), (1, 7.0)]},  # no utterance short enough to be a prompt
    "300": {"3000": [(0, 8.0)]},  # a single utterance: nobody to pair with
    "400": {"4000": [(0, 3.5), (1, 1.0), (2, 10.0), (3, 4.0)]},
}


@pytest.fixture(scope="module")
def fake_librispeech(tmp_path_factory):
    root = tmp_path_factory.mktemp("ls") / "test-clean"
    for spk, chapters in FAKE_TREE.items():
        for chapter, utts in chapters.items():
            folder = root / spk / chapter
            folder.mkdir(parents=True)
            lines = []
            for index, seconds in utts:
                utt = f"{spk}-{chapter}-{index:04d}"
                write_tone(folder / f"{utt}.flac", seconds)
                lines.append(f"{utt} WORDS OF UTTERANCE {utt.replace('-', ' ')}")
            (folder / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def test_reads_the_tree(fake_librispeech):
    utts = read_librispeech(fake_librispeech)
    assert len(utts) == sum(len(u) for c in FAKE_TREE.values() for u in c.values())
    durations = {u.id: u.duration for u in utts}
    assert durations["100-1000-0002"] == pytest.approx(9.5)
    assert all(u.wav.is_file() and u.text.endswith(".") and not u.text.isupper() for u in utts)


def test_pairs_follow_the_protocol(fake_librispeech):
    utts = read_librispeech(fake_librispeech)
    pairs = build_cross_sentence_pairs(utts)
    assert pairs
    for p in pairs:
        assert p.prompt.speaker == p.target.speaker
        assert p.prompt.id != p.target.id
        assert TARGET_RANGE_S[0] <= p.target.duration <= TARGET_RANGE_S[1]
        assert PROMPT_RANGE_S[0] <= p.prompt.duration <= PROMPT_RANGE_S[1]
    assert len({p.id for p in pairs}) == len(pairs)
    # every eligible target is used: in range, with another in-range utterance of its speaker
    eligible = {t.id for t in utts if TARGET_RANGE_S[0] <= t.duration <= TARGET_RANGE_S[1]
                and any(u.speaker == t.speaker and u.id != t.id and PROMPT_RANGE_S[0] <= u.duration <= PROMPT_RANGE_S[1]
                        for u in utts)}
    assert {p.id for p in pairs} == eligible
    assert not {p.target.speaker for p in pairs} & {"200", "300"}


def test_pairs_are_deterministic_and_stable_under_subsetting(fake_librispeech):
    utts = read_librispeech(fake_librispeech)
    first = build_cross_sentence_pairs(utts, seed=3)
    assert first == build_cross_sentence_pairs(list(reversed(utts)), seed=3)
    without_400 = build_cross_sentence_pairs([u for u in utts if u.speaker != "400"], seed=3)
    assert without_400 == [p for p in first if p.target.speaker != "400"]


def test_list_round_trip_and_f5_format(fake_librispeech, tmp_path):
    pairs = build_cross_sentence_pairs(read_librispeech(fake_librispeech))
    path = tmp_path / "pairs.lst"
    write_pair_list(pairs, path)
    back = read_pair_list(path, fake_librispeech)
    assert [(p.prompt.id, p.target.id, p.prompt.text, p.target.text) for p in back] == \
           [(p.prompt.id, p.target.id, p.prompt.text, p.target.text) for p in pairs]
    assert [p.target.wav for p in back] == [p.target.wav for p in pairs]
    # F5-TTS's file: CRLF line ends, cased and punctuated LibriSpeech-PC texts, durations with 3 decimals
    f5 = tmp_path / "f5.lst"
    f5.write_bytes(b"100-1001-0000\t4.5\tWords, of \"one\"!\t100-1000-0001\t6.0\tAnd the other one.\r\n")
    (p,) = read_pair_list(f5, fake_librispeech)
    assert (p.prompt.id, p.target.id, p.prompt.text, p.target.duration) == \
           ("100-1001-0000", "100-1000-0001", 'Words, of "one"!', 6.0)
    assert sha256_of(f5) == hashlib.sha256(f5.read_bytes()).hexdigest()


def test_missing_audio_and_bad_rows_fail_early(fake_librispeech, tmp_path):
    bad = tmp_path / "bad.lst"
    bad.write_text("100-1001-0000\t4.5\ta\t999-1-0000\t5.0\tb\n")
    with pytest.raises(FileNotFoundError, match="999-1-0000"):
        read_pair_list(bad, fake_librispeech)
    bad.write_text("100-1001-0000\t4.5\ta\n")
    with pytest.raises(ValueError, match="6 tab-separated"):
        read_pair_list(bad, fake_librispeech)
    with pytest.raises(ValueError):
        librispeech_audio_path(fake_librispeech, "not_an_id")


def test_sentence_case():
    assert sentence_case("HE HOPED THERE WOULD BE STEW") == "He hoped there would be stew."
    assert sentence_case("Already cased.") == "Already cased."


def test_the_stored_list_is_f5_ttss_when_present():
    if not DEFAULT_PAIR_LIST.is_file():
        pytest.skip(f"{DEFAULT_PAIR_LIST.name} is not in eval/data nor ../shared/eval (see F5_LIST_SOURCE for where it comes from)")
    assert sha256_of(DEFAULT_PAIR_LIST) == F5_LIST_SOURCE["sha256"]
