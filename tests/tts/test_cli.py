import soundfile as sf

from tts.cli import main

from .conftest import speechlike


def test_synth_writes_a_wav_and_reports_errors(tiny_model, tiny_codec, tmp_path, capsys):
    tiny_model.save_pretrained(tmp_path / "tts")
    tiny_codec.save_pretrained(tmp_path / "codec")
    sf.write(tmp_path / "ref.wav", speechlike(2.0).numpy(), 16000)
    common = ["synth", "--ref", str(tmp_path / "ref.wav"), "--ref-text", "hello there my friend",
              "--model", str(tmp_path / "tts"), "--codec", str(tmp_path / "codec"), "--device", "cpu",
              "--nfe", "4", "--seed", "1"]
    assert main(common + ["--text", "Good morning.", "--out", str(tmp_path / "out.wav")]) == 0
    data, sr = sf.read(tmp_path / "out.wav")
    assert sr == 16000 and data.ndim == 1 and len(data) > 0
    assert main(common + ["--text", " ", "--out", str(tmp_path / "x.wav")]) == 2
    assert "error: text is empty" in capsys.readouterr().err
    assert main(common + ["--text", "Hi.", "--out", str(tmp_path / "x.wav"), "--nfe", "0"]) == 2
    assert "nfe" in capsys.readouterr().err
    bad_ref = ["--ref", str(tmp_path / "missing.wav")]
    assert main(common + bad_ref + ["--text", "Hi.", "--out", str(tmp_path / "x.wav")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


def test_synth_with_the_recorded_mel_codec_and_a_refused_one(mel_tts_dir, tiny_codec, tmp_path, capsys):
    sf.write(tmp_path / "ref.wav", speechlike(2.0).numpy(), 16000)
    common = ["synth", "--ref", str(tmp_path / "ref.wav"), "--ref-text", "hello there my friend", "--text", "Hi.",
              "--model", str(mel_tts_dir), "--device", "cpu", "--nfe", "2", "--seed", "1"]
    assert main(common + ["--out", str(tmp_path / "out.wav")]) == 0  # no --codec: the checkpoint's Vocos
    data, sr = sf.read(tmp_path / "out.wav")
    assert sr == 24000 and len(data) > 0
    tiny_codec.save_pretrained(tmp_path / "wavcube")
    assert main(common + ["--out", str(tmp_path / "x.wav"), "--codec", str(tmp_path / "wavcube")]) == 2
    err = capsys.readouterr().err
    assert "wavcube codec, 128-d at 50 Hz" in err and "100-d at 93.75 Hz" in err
    assert not (tmp_path / "x.wav").exists()
