"""Issue 19, the app's part: a busy or impossible port is found before the models load; a broken config or a
model that cannot be built gives a "Not ready" page, never a crash at start-up. Each test failed before its fix."""
import json
import socket

import pytest
import torch

import app.cli
from app.models import load_synthesizer

CPU = torch.device("cpu")


@pytest.fixture
def no_models(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the models were loaded before the port was checked")

    monkeypatch.setattr(app.cli, "load_synthesizer", refuse)


def test_an_impossible_port_is_one_error_line(no_models, capsys):
    assert app.cli.main(["--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "error: --port must be a port number from 1 to 65535, got 70000"


def test_a_port_in_use_is_found_before_the_models_load(no_models, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert app.cli.main(["--host", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.mark.parametrize("field, value, message", [
    ("depth", "2", 'dit.depth must be a whole number, got "2"'),
    ("heads", 0, "dit: heads must be at least 1, got 0"),
])
def test_a_broken_config_shows_not_ready(synthesizer, tmp_path, field, value, message):
    synthesizer.codec.save_pretrained(tmp_path / "codec")
    synthesizer.model.save_pretrained(tmp_path / "tts")
    meta = json.loads((tmp_path / "tts" / "config.json").read_text())
    meta["config"]["dit"][field] = value
    (tmp_path / "tts" / "config.json").write_text(json.dumps(meta))
    loaded, status = load_synthesizer(str(tmp_path / "tts"), str(tmp_path / "codec"), "whisper", CPU)
    assert loaded is None and not status.ready
    assert str(tmp_path / "tts" / "config.json") in status.problem and message in status.problem
    assert "**Not ready:**" in status.markdown()


def test_a_model_that_cannot_be_built_shows_not_ready(synthesizer, tmp_path, monkeypatch):
    import tts.model

    synthesizer.codec.save_pretrained(tmp_path / "codec")
    synthesizer.model.save_pretrained(tmp_path / "tts")

    def out_of_memory(self, config):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(tts.model.TTSModel, "__init__", out_of_memory)
    loaded, status = load_synthesizer(str(tmp_path / "tts"), str(tmp_path / "codec"), "whisper", CPU)
    assert loaded is None and "can't allocate memory" in status.problem
