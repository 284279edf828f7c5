"""`python -m eval durations` (eval/durations.py) on pair lists and a realspeech manifest written by the test."""
import pytest

from eval.cli import main
from eval.durations import (DurationPair, Spoken, all_speaker_pairs, benchmark, errors, markdown, matched_pairs,
                            read_pair_durations, realspeech_pairs, same_pairings)
from tts.duration import ByteRule, LetterRule

# F5-TTS's format: ref_id, ref_dur, ref_text, gen_id, gen_dur, gen_text; CRLF line ends as F5-TTS commits it.
PAIR_LIST = "\r\n".join([
    "11-1-0001\t3.0\tThe cat sat on the mat.\t11-1-0002\t6.0\tThe cat sat on the mat, and then it slept.",
    "11-1-0003\t2.5\tA dog barked twice.\t11-1-0004\t5.0\tA dog barked twice, then ran off into the woods.",
    "22-7-0001\t4.0\tShe sells sea shells.\t22-7-0002\t8.0\tShe sells sea shells by the sea shore, every day.",
]) + "\r\n"
MANIFEST_HEADER = "id\tfile\tspeaker\ttranscript\tduration_s\tsubset"
MANIFEST_ROWS = [
    ("a-1", "x/a-1.wav", "7", "HELLO THERE MY FRIEND", "2.0", "x"),
    ("a-2", "x/a-2.wav", "7", "HELLO AGAIN", "1.0", "x"),
    ("b-1", "y/b-1.wav", "7", "Another corpus, same speaker id.", "3.0", "y"),  # its own subset: no pair
    ("c-1", "x/c-1.wav", "9", "Alone.", "1.0", "x"),
]


@pytest.fixture
def pair_list(tmp_path):
    path = tmp_path / "pairs.lst"
    path.write_bytes(PAIR_LIST.encode())
    return path


@pytest.fixture
def realspeech(tmp_path):
    folder = tmp_path / "realspeech"
    folder.mkdir()
    lines = [MANIFEST_HEADER] + ["\t".join(r) for r in MANIFEST_ROWS]
    (folder / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_pairs_are_read_without_audio(pair_list):
    pairs = read_pair_durations(pair_list)
    assert len(pairs) == 3
    assert pairs[0].prompt == Spoken("11-1-0001", "The cat sat on the mat.", 3.0)
    assert pairs[2].target.text == "She sells sea shells by the sea shore, every day."


def test_a_bad_pair_list_names_its_line(tmp_path):
    path = tmp_path / "bad.lst"
    path.write_text("a\t1.0\ttext\n")
    with pytest.raises(ValueError, match=r"bad.lst:1: expected 6 tab-separated fields, got 3"):
        read_pair_durations(path)


def test_all_speaker_pairs_keep_the_ranges_and_the_speaker(pair_list):
    pairs = all_speaker_pairs(read_pair_durations(pair_list), prompt_range=(2.0, 5.0), target_range=(4.0, 10.0))
    ids = {(p.prompt.id, p.target.id) for p in pairs}
    # Speaker 11: prompts 0001 (3 s), 0003 (2.5 s), 0004 (5 s) and targets 0002 (6 s), 0004; speaker 22: 4 s → 8 s.
    assert ids == {("11-1-0001", "11-1-0002"), ("11-1-0001", "11-1-0004"), ("11-1-0003", "11-1-0002"),
                   ("11-1-0003", "11-1-0004"), ("11-1-0004", "11-1-0002"), ("22-7-0001", "22-7-0002")}


def test_realspeech_pairs_stay_within_a_speaker_and_a_subset(realspeech):
    ids = {(p.prompt.id, p.target.id) for p in realspeech_pairs(realspeech)}
    assert ids == {("a-1", "a-2"), ("a-2", "a-1")}


def test_errors_are_relative_to_the_real_length():
    exact = DurationPair(Spoken("p", "abcd", 2.0), Spoken("t", "abcdabcd", 4.0))
    off = DurationPair(Spoken("p", "abcd", 2.0), Spoken("t", "abcdabcd", 5.0))  # bytes say 4 s
    assert errors(ByteRule(), [exact, off]) == pytest.approx([0.0, 0.2])


def test_matching_gives_each_target_the_prompt_its_rule_predicts_best():
    # Speaker 5's prompts: "abcd" in 2 s (0.5 s a byte, 0.5 s a letter), "ab cd" in 2 s (0.4 s a byte, 0.5 a letter).
    p1, p2 = Spoken("5-1-01", "abcd", 2.0), Spoken("5-1-02", "ab cd", 2.0)
    t1 = Spoken("5-1-03", "abcd abcd", 3.6)  # 9 bytes at 0.4 s: p2's byte rate
    t2 = Spoken("5-1-04", "abcdabcd", 4.0)  # 8 bytes at 0.5 s: p1's
    other = DurationPair(Spoken("6-1-01", "xyz", 1.5), Spoken("6-1-02", "xyzxyz", 3.0))
    listed = [DurationPair(p1, t1), DurationPair(p2, t2), other]
    by_bytes = matched_pairs(listed, ByteRule())
    assert [p.prompt.id for p in by_bytes] == ["5-1-02", "5-1-01", "6-1-01"]
    assert errors(ByteRule(), by_bytes) == pytest.approx([0.0, 0.0, 0.0])  # each target got its byte-rate twin
    by_letters = matched_pairs(listed, LetterRule())  # both prompts say 0.5 s a letter: a tie, the lower id
    assert [p.prompt.id for p in by_letters] == ["5-1-01", "5-1-01", "6-1-01"]
    assert same_pairings(by_bytes, listed) == pytest.approx(1 / 3)
    assert same_pairings(by_letters, listed) == pytest.approx(2 / 3)


def test_matching_needs_another_prompt_of_the_speaker():
    alone = [DurationPair(Spoken("8-1-01", "abc", 1.0), Spoken("9-1-01", "abcabc", 2.0))]
    with pytest.raises(ValueError, match="target 9-1-01: its speaker has no other prompt"):
        matched_pairs(alone, ByteRule())


def test_benchmark_table(pair_list, realspeech):
    results = benchmark({"librispeech-pc": read_pair_durations(pair_list), "realspeech": realspeech_pairs(realspeech)},
                        ["bytes", "letters", "fitted"])
    rows = results["librispeech-pc"]
    assert [(r["rule"], r["text"]) for r in rows] == [("bytes", "as written"), ("bytes", "normalised"),
                                                     ("letters", "normalised"), ("fitted", "normalised")]
    assert all(r["pairs"] == 3 and 0 <= r["median"] <= r["mean"] * 3 and 0 <= r["off_25"] <= 1 for r in rows)
    table = markdown(results)
    assert "librispeech-pc (3 pairs)" in table and "realspeech (2 pairs)" in table
    assert "| rule | text | median error | mean error | pairs > 25 % off |" in table


def test_cli_prints_the_table_and_writes_it(pair_list, realspeech, tmp_path, capsys):
    rc = main(["durations", "--pairs", str(pair_list), "--realspeech", str(realspeech), "--rules", "bytes",
               "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "librispeech-pc-all (6 pairs)" in out and "| bytes | as written |" in out
    # Speaker 22 has one prompt and one target (0002): matching gives it that prompt, as the list does.
    assert "librispeech-pc-matched-bytes (3 pairs)" in out and "the list's own prompt for 33.3 %" in out
    assert (tmp_path / "out" / "durations.md").read_text() in out
    assert (tmp_path / "out" / "durations.json").is_file()


def test_cli_missing_data_is_one_error_line(tmp_path, capsys):
    rc = main(["durations", "--sets", "realspeech", "--realspeech", str(tmp_path / "nowhere")])
    assert rc == 2
    assert capsys.readouterr().err.startswith("error: no manifest.tsv in")
