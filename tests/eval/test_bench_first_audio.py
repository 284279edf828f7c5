"""`eval/bench_first_audio.py` at the tiny size: its rows, and streams served one by one or together make the same
audio (only the time differs)."""
from eval.bench_first_audio import main


def test_streams_one_by_one_and_together_make_the_same_audio(capsys):
    assert main(["--preset", "tiny", "--codecs", "mel", "--streams", "2", "--nfe", "1"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("mel ")]
    assert [r[1] for r in rows[:2]] == ["streamed", "whole"]
    one, together = rows[2], rows[3]
    assert one[1:5] == ["2", "one", "by", "one"] and together[1:3] == ["2", "together"]
    assert one[-1] == together[-1] and float(one[-1]) > 0  # seconds of audio of both streams: the same
