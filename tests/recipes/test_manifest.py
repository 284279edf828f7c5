from pathlib import Path

import pytest

from codec.checkpoint import _UMASK
from recipes.manifest import (ManifestError, Utterance, filter_duration, read_manifest, scan, split_by_speaker,
                              write_manifest)
from recipes.prepare_data import main as prepare_main
from tests.recipes.conftest import write_clip


@pytest.fixture
def corpora(speech, tmp_path) -> Path:
    """Fake LibriTTS, LibriSpeech, LJSpeech and plain folders built from speech clips, with made-up texts."""
    src = [r["path"] for r in speech[:4]]
    root = tmp_path / "corpora"
    tts = root / "LibriTTS" / "train-clean-100" / "19" / "198"
    write_clip(src[0], tts / "19_198_000000_000002.wav", 1.0)
    (tts / "19_198_000000_000002.normalized.txt").write_text("Hello, normalized world.")
    (tts / "19_198_000000_000002.original.txt").write_text("Hello, original world.")
    write_clip(src[1], tts / "19_198_000000_000003.wav", 3.0)
    (tts / "19_198_000000_000003.original.txt").write_text("Only the\toriginal\n text.")
    write_clip(src[1], tts / "19_198_000000_000004.wav", 1.0)  # no transcript: skipped
    ls = root / "LibriSpeech" / "dev-clean" / "1272" / "128104"
    write_clip(src[2], ls / "1272-128104-0000.flac", 2.0)
    write_clip(src[2], ls / "1272-128104-0001.flac", 0.2)
    (ls / "1272-128104.trans.txt").write_text("1272-128104-0000 MISTER QUILTER IS THE APOSTLE\n"
                                              "1272-128104-0001 NOR IS MISTER QUILTER'S MANNER\n")
    lj = root / "LJSpeech-1.1"
    write_clip(src[3], lj / "wavs" / "LJ001-0001.wav", 1.5)
    (lj / "metadata.csv").write_text("LJ001-0001|Printing, in 1 sense|Printing, in one sense\n")
    plain = root / "mine" / "alice"
    write_clip(src[3], plain / "take1.wav", 1.2)
    (plain / "take1.txt").write_text("A plain folder.\n")
    return root


def test_scan_reads_each_corpus_layout(corpora):
    utts, untranscribed = scan([corpora], workers=2)
    by_id = {u.id: u for u in utts}
    assert sorted(by_id) == ["1272-128104-0000", "1272-128104-0001", "19_198_000000_000002",
                             "19_198_000000_000003", "LJ001-0001", "take1"]
    assert [p.name for p in untranscribed] == ["19_198_000000_000004.wav"]
    assert by_id["19_198_000000_000002"].text == "Hello, normalized world."  # normalized over original
    assert by_id["19_198_000000_000003"].text == "Only the original text."  # one line, no tabs
    assert by_id["1272-128104-0000"].text == "MISTER QUILTER IS THE APOSTLE"
    assert by_id["LJ001-0001"].text == "Printing, in one sense"
    assert {u.id: u.speaker for u in utts} == {
        "1272-128104-0000": "1272", "1272-128104-0001": "1272", "19_198_000000_000002": "19",
        "19_198_000000_000003": "19", "LJ001-0001": "wavs", "take1": "alice"}
    assert by_id["19_198_000000_000003"].duration == pytest.approx(3.0, abs=1e-3)
    assert by_id["1272-128104-0001"].duration == pytest.approx(0.2, abs=1e-3)


def test_manifest_round_trip_filter_and_speaker_split(corpora, tmp_path):
    utts, _ = scan([corpora])
    write_manifest(tmp_path / "m.tsv", utts)
    assert read_manifest(tmp_path / "m.tsv") == [
        Utterance(u.id, u.path, round(u.duration, 4), u.speaker, u.text) for u in utts]
    assert [u.id for u in filter_duration(utts, 0.5, 2.0)] == ["1272-128104-0000", "19_198_000000_000002",
                                                               "LJ001-0001", "take1"]
    train, held = split_by_speaker(utts, 2, seed=0)
    assert len({u.speaker for u in held}) == 2
    assert not {u.speaker for u in train} & {u.speaker for u in held}
    assert sorted(u.id for u in train + held) == sorted(u.id for u in utts)
    assert split_by_speaker(utts, 2, seed=0) == (train, held)  # deterministic
    with pytest.raises(ValueError, match="cannot hold out"):
        split_by_speaker(utts, 4)


def test_prepare_data_command(corpora, tmp_path, capsys):
    prepare_main([str(corpora), "--out", str(tmp_path / "out"), "--min-duration", "0.5",
                  "--heldout-speakers", "1", "--workers", "2"])
    train = read_manifest(tmp_path / "out" / "train.tsv")
    held = read_manifest(tmp_path / "out" / "heldout.tsv")
    assert len(train) + len(held) == 5  # 6 transcribed, one under 0.5 s
    assert len({u.speaker for u in held}) == 1
    assert "1 outside 0.5-30.0 s dropped" in capsys.readouterr().out


def test_bad_lines_are_all_reported_before_any_work(clips_manifest, tmp_path, capsys):
    good = clips_manifest.read_text().splitlines()
    bad = [good[1].replace("\t", " "), good[2].replace("\t2.5000\t", "\tlong\t"),
           good[3].replace(good[3].split("\t")[1], str(tmp_path / "gone.wav")),
           good[4].replace("\t2.5000\t", "\tnan\t")]
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join([good[0]] + bad + good[5:]) + "\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    message = str(info.value)
    assert "4 bad lines of 8" in message and "--skip-bad-lines" in message
    assert "line 2: expected 5 tab-separated columns" in message
    assert "line 3: duration 'long' is not a number" in message
    assert f"line 4: audio file not found: {tmp_path / 'gone.wav'}" in message
    assert "line 5: duration 'nan' must be a positive number" in message
    kept = read_manifest(path, skip_bad_lines=True)
    assert [u.id for u in kept] == [line.split("\t")[0] for line in good[5:]]
    assert "skipping" in capsys.readouterr().err


def test_written_files_follow_the_umask(tmp_path):
    write_manifest(tmp_path / "m.tsv", [])
    assert (tmp_path / "m.tsv").stat().st_mode & 0o777 == 0o666 & ~_UMASK
