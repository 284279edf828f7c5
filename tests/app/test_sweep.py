"""Hostile input, through every entry point: the app served on localhost (driven by `gradio_client`) and the
CLIs (`python -m codec`, `python -m tts`, `python -m eval`). Each input gets its own message, leaves no file
behind, and the server goes on answering. One server for the module; tiny random models."""
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app.models import load_synthesizer
from app.page import build_app

from .conftest import REF_TEXT, SR, start, voice_like

# Raised inside gradio's queue by its pandas calls, not by the app.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")


@pytest.fixture(scope="module")
def client(service):
    """The app as `python -m app` serves it (same upload limit, same checks of raw calls), with tiny models."""
    demo, url = start(service)
    yield Client(url, verbose=False)
    demo.close()


@pytest.fixture(scope="module")
def hostile_refs(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("hostile")
    nan = voice_like(3.0).numpy()
    nan[SR:SR + 100] = np.nan
    sf.write(d / "nan.wav", nan, SR, subtype="FLOAT")
    sf.write(d / "huge.wav", np.zeros(11_000_000, dtype=np.int16), SR)  # 22 MB, over the 20 MB upload limit
    return {"nan": str(d / "nan.wav"), "huge": str(d / "huge.wav")}


def still_answers(client, refs) -> None:
    wav_path, _ = client.predict("Still here.", handle_file(refs["good"]), REF_TEXT, api_name="/clone_voice")
    assert len(sf.read(wav_path)[0]) > 0


def raw_request(client, data: list) -> str:
    """Call /clone_voice over plain HTTP with JSON that gradio_client refuses to write (NaN, Infinity); the
    reference is `data[1]`, a local file, uploaded first. Returns the event stream's text."""
    base = client.src.rstrip("/") + "/gradio_api"
    with open(data[1], "rb") as f:
        uploaded = httpx.post(f"{base}/upload", files={"files": f}).json()[0]
    data = [data[0], {"path": uploaded, "meta": {"_type": "gradio.FileData"}}] + data[2:]
    body = json.dumps({"data": data})  # allow_nan: NaN and Infinity as JavaScript writes them
    event = httpx.post(f"{base}/call/clone_voice", content=body, headers={"content-type": "application/json"})
    return httpx.get(f"{base}/call/clone_voice/{event.json()['event_id']}", timeout=60).text


@pytest.mark.parametrize("position, value, message", [
    (4, float("nan"), "nfe must be a whole number from 1 to 128, got nan (the 'steps' setting)"),
    (5, float("inf"), "cfg must be a number from 0.0 to 10.0, got inf (the 'cfg_strength' setting)"),
    (5, float("nan"), "cfg must be a number from 0.0 to 10.0, got nan"),
    (3, float("nan"), "speed must be a number from 0.25 to 4.0, got nan"),
    (3, float("-inf"), "speed must be a number from 0.25 to 4.0, got -inf"),
])
def test_nan_and_infinity_over_http_name_the_field(client, refs, position, value, message):
    data = ["Hello.", refs["good"], REF_TEXT, 1.0, 4, 2.0, "", False, None]
    data[position] = value
    stream = raw_request(client, data)
    assert "event: error" in stream and message in stream, stream
    still_answers(client, refs)


@pytest.mark.parametrize("settings, message", [
    ({"steps": 100000}, "Settings: nfe must be a whole number from 1 to 128, got 100000 (the 'steps' setting)"),
    ({"steps": 0}, "Settings: nfe must be a whole number from 1 to 128, got 0"),
    ({"steps": "many"}, "Settings: nfe must be a whole number from 1 to 128, got 'many'"),
    ({"cfg_strength": True}, "Settings: cfg must be a number from 0.0 to 10.0, got True"),
    ({"speed": "fast"}, "Settings: speed must be a number from 0.25 to 4.0, got 'fast'"),
    ({"seed": "-1"}, "Settings: seed must be a whole number from 0 to 9223372036854775807, or none, got -1"),
    ({"seed": "abc"}, "Settings: seed must be a whole number from 0 to 9223372036854775807, or none, got 'abc'"),
])
def test_bad_settings_name_the_field_and_its_range(client, refs, settings, message):
    with pytest.raises(AppError) as info:
        client.predict(text="Hello.", reference=handle_file(refs["good"]), reference_text=REF_TEXT,
                       api_name="/clone_voice", **settings)
    assert message in str(info.value)
    still_answers(client, refs)


def test_none_settings_take_the_defaults(client, refs):
    wav_path, seed = client.predict("Hello.", handle_file(refs["good"]), REF_TEXT, None, None, None, "7",
                                    api_name="/clone_voice")
    assert seed == "7" and len(sf.read(wav_path)[0]) > 0


@pytest.mark.parametrize("text, ref, message", [
    ("", "good", "Text: text is empty"),
    ("😀 🎉", "good", "Text: text has nothing speakable"),
    ("word " * 20000, "good", "Text: text is 100000 characters long; the limit is max_chars=1000"),
    ("Hello.", "wrong_type", "Reference: wrong file type '.txt'"),
    ("Hello.", "unreadable", "Reference: cannot read audio file broken.wav"),
    ("Hello.", "silent", "Reference: the reference audio is silent"),
    ("Hello.", "short", "at least 1 s is needed"),
    ("Hello.", "nan", "Reference: the reference holds NaN or infinite samples"),
    ("Hello.", "long", "Reference: the file is 61 s long; the limit is 60 s"),
])
def test_bad_text_and_references_get_their_message(client, refs, hostile_refs, text, ref, message):
    with pytest.raises(AppError) as info:
        client.predict(text, handle_file({**refs, **hostile_refs}[ref]), REF_TEXT, api_name="/clone_voice")
    assert message in str(info.value)
    still_answers(client, refs)


def test_oversized_upload_is_refused_before_it_is_stored(client, refs, hostile_refs):
    with pytest.raises(Exception, match="exceeds the maximum file size of 20971520 bytes"):  # the client checks
        client.predict("Hello.", handle_file(hostile_refs["huge"]), REF_TEXT, api_name="/clone_voice")
    with open(hostile_refs["huge"], "rb") as f:  # and so does the server
        assert httpx.post(client.src.rstrip("/") + "/gradio_api/upload", files={"files": f}).status_code == 413
    still_answers(client, refs)


def test_eight_concurrent_requests_all_complete(client, refs):
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda i: client.predict(f"Number {i}.", handle_file(refs["good"]), REF_TEXT,
                                                       api_name="/clone_voice")[0], range(8)))
    assert all(len(sf.read(p)[0]) > 0 for p in paths)


# --- broken checkpoints: the app starts and names the file; each CLI prints one `error:` line and exits 2 ---

def break_file(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00not a checkpoint" * 8}[how])


@pytest.fixture(scope="module")
def saved(synthesizer, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("saved")
    synthesizer.model.save_pretrained(d / "tts")
    synthesizer.codec.save_pretrained(d / "codec")
    torch.save({"state_dict": {"backbone.decoder.x": torch.zeros(4)}}, d / "released.ckpt")
    return d


BROKEN = [("codec", "model.safetensors", "truncated"), ("codec", "model.safetensors", "garbage"),
          ("codec", "config.json", "truncated"), ("codec", "released.ckpt", "truncated"),
          ("tts", "model.safetensors", "truncated"), ("tts", "config.json", "garbage")]


def broken_copy(saved: Path, tmp_path: Path, model: str, name: str, how: str) -> tuple[Path, Path, Path]:
    """(tts dir, codec path, the broken file) in a copy of `saved` with one file broken."""
    root = shutil.copytree(saved, tmp_path / "models")
    codec = root / "released.ckpt" if name.endswith(".ckpt") else root / "codec"
    broken = root / name if name.endswith(".ckpt") else root / model / name
    break_file(broken, how)
    return root / "tts", codec, broken


def one_error_line(err: str, broken: Path) -> None:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(broken) in lines[0] and "Traceback" not in err, err


@pytest.mark.parametrize("model, name, how", BROKEN)
def test_broken_checkpoint_app_starts_and_names_the_file(saved, tmp_path, model, name, how):
    tts, codec, broken = broken_copy(saved, tmp_path, model, name, how)
    synthesizer, status = load_synthesizer(str(tts), str(codec), "whisper", torch.device("cpu"))
    assert synthesizer is None and str(broken) in status.problem and "broken" in status.problem
    page = build_app(None, status)
    shown = next(b.value for b in page.blocks.values() if getattr(b, "elem_id", None) == "model-status")
    assert str(broken) in shown


@pytest.mark.parametrize("model, name, how", BROKEN)
def test_broken_checkpoint_clis_print_one_error_line(saved, refs, tmp_path, capsys, model, name, how):
    from codec.cli import main as codec_main
    from eval.cli import main as eval_main
    from tts.cli import main as tts_main

    tts, codec, broken = broken_copy(saved, tmp_path, model, name, how)
    out = tmp_path / "out.wav"
    assert tts_main(["synth", "--text", "Hi.", "--ref", refs["good"], "--ref-text", REF_TEXT, "--out", str(out),
                     "--model", str(tts), "--codec", str(codec), "--device", "cpu", "--nfe", "2"]) == 2
    one_error_line(capsys.readouterr().err, broken)
    assert not out.exists()
    if model == "codec":
        assert codec_main(["encode", refs["good"], str(tmp_path / "x.pt"), "--checkpoint", str(codec),
                           "--device", "cpu"]) == 2
        one_error_line(capsys.readouterr().err, broken)
        assert eval_main(["speed", "--codec", str(codec), "--lengths", "0.5", "--repeats", "1", "--device", "cpu",
                          "--out", str(tmp_path / "speed")]) == 2
        one_error_line(capsys.readouterr().err, broken)
        assert not (tmp_path / "x.pt").exists() and not (tmp_path / "speed" / "report.json").exists()


@pytest.mark.parametrize("flags, message", [
    (["--nfe", "nan"], "error: nfe must be a whole number from 1 to 128, got nan"),
    (["--nfe", "100000"], "error: nfe must be a whole number from 1 to 128, got 100000"),
    (["--cfg", "inf"], "error: cfg must be a number from 0.0 to 10.0, got inf"),
    (["--seed", "-1"], "error: seed must be a whole number from 0"),
    (["--out", "out.mp3"], "cannot write audio as '.mp3' (out.mp3); name the output file with one of .wav, .flac, "
                           ".ogg"),
    (["--text", "word " * 300], "error: text is 1499 characters long as it will be said"),
])
def test_tts_cli_refuses_hostile_flags_and_leaves_no_file(saved, refs, tmp_path, capsys, flags, message):
    from tts.cli import main as tts_main

    args = {"--text": "Hi.", "--ref": refs["good"], "--ref-text": REF_TEXT, "--out": str(tmp_path / "out.wav"),
            "--model": str(saved / "tts"), "--codec": str(saved / "codec"), "--device": "cpu", "--nfe": "2"}
    args.update(zip(flags[::2], flags[1::2]))
    args["--out"] = str(tmp_path / Path(args["--out"]).name)
    assert tts_main(["synth"] + [x for pair in args.items() for x in pair]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_tts_cli_writes_the_format_its_suffix_names(saved, refs, tmp_path, capsys):
    from tts.cli import main as tts_main

    out = tmp_path / "out.ogg"
    assert tts_main(["synth", "--text", "Hi.", "--ref", refs["good"], "--ref-text", REF_TEXT, "--out", str(out),
                     "--model", str(saved / "tts"), "--codec", str(saved / "codec"), "--device", "cpu",
                     "--nfe", "2", "--seed", "0"]) == 0
    assert sf.info(str(out)).format == "OGG"
    assert "synthesize" in capsys.readouterr().err  # the progress bar

