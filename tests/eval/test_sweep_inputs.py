"""Issue 19, the eval part: the pair list's errors name the file and line, a non-UTF-8 file is named, a leading
byte-order mark is not part of the first id. Each test failed before its fix."""
import numpy as np
import pytest
import soundfile as sf

from eval.protocol import read_pair_list

ROW = "100-1001-0000\t4.5\tprompt text\t100-1001-0001\t5.0\ttarget text"


@pytest.fixture(scope="module")
def fake_librispeech(tmp_path_factory):
    """The two utterances ROW names, in the LibriSpeech layout."""
    root = tmp_path_factory.mktemp("ls") / "test-clean"
    (root / "100" / "1001").mkdir(parents=True)
    for utt in ("100-1001-0000", "100-1001-0001"):
        sf.write(root / "100" / "1001" / f"{utt}.flac", np.zeros(1600, np.float32), 16000)
    return root


def test_a_bad_duration_names_the_file_and_line(fake_librispeech, tmp_path):
    path = tmp_path / "pairs.lst"
    path.write_text(ROW + "\n" + ROW.replace("\t5.0\t", "\tfive\t") + "\n")
    with pytest.raises(ValueError, match=rf"{path}:2: gen_dur 'five' is not a number"):
        read_pair_list(path, fake_librispeech)


def test_a_file_that_is_not_utf8_is_named(fake_librispeech, tmp_path):
    path = tmp_path / "latin1.lst"
    path.write_bytes((ROW + "\tcaf\u00e9\n").encode("latin-1"))
    with pytest.raises(ValueError, match=rf"pair list {path} is not UTF-8 text"):
        read_pair_list(path, fake_librispeech)


def test_a_leading_bom_is_stripped(fake_librispeech, tmp_path):
    path = tmp_path / "bom.lst"
    path.write_bytes(b"\xef\xbb\xbf" + ROW.encode() + b"\r\n")
    [pair] = read_pair_list(path, fake_librispeech)
    assert pair.prompt.id == "100-1001-0000" and pair.target.text == "target text"


def test_a_repeated_target_names_both_lines(fake_librispeech, tmp_path):
    path = tmp_path / "twice.lst"
    path.write_text(ROW + "\n\n" + ROW + "\n")
    with pytest.raises(ValueError, match=rf"{path}:3: target id 100-1001-0001 is on line 1 too"):
        read_pair_list(path, fake_librispeech)


def test_a_tree_of_flacs_without_their_length_is_measured(tmp_path):
    from eval.protocol import read_librispeech
    from tests.codec.test_sweep_inputs import streaming_flac

    folder = tmp_path / "100" / "1001"
    folder.mkdir(parents=True)
    streaming_flac(folder / "100-1001-0000.flac", np.zeros(48000, np.float32), 16000)
    (folder / "100-1001.trans.txt").write_text("100-1001-0000 SOME WORDS\n")
    [utt] = read_librispeech(tmp_path)
    assert utt.duration == pytest.approx(3.0)
