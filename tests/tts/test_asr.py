"""The Whisper transcriber's loading: once, off the request thread, failing fast and remembering the failure."""
import threading
import time

import pytest

from tts.asr import ASRUnavailable, WhisperTranscriber


def test_missing_model_offline_fails_at_once_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asr = WhisperTranscriber("nobody/no-such-whisper")
    start = time.monotonic()
    with pytest.raises(ASRUnavailable, match="'nobody/no-such-whisper' could not be loaded .*Pass the reference "
                                             "transcript, or make the model reachable"):
        asr.wait()
    assert time.monotonic() - start < 30


def test_failure_is_remembered_until_the_retry_interval(monkeypatch):
    calls = []

    def failing_load(self):
        calls.append(threading.current_thread().name)
        raise OSError("hub unreachable")

    monkeypatch.setattr(WhisperTranscriber, "_load", failing_load)
    asr = WhisperTranscriber("some/whisper", retry_seconds=60)
    for _ in range(3):
        with pytest.raises(ASRUnavailable, match="hub unreachable.*tried again after 60 s"):
            asr.wait()
    assert calls == ["asr-loader"]  # once, and not on the caller's thread
    asr.retry_seconds = 0  # the interval has passed: the next request tries again
    with pytest.raises(ASRUnavailable):
        asr.wait()
    assert len(calls) == 2


def test_concurrent_requests_share_one_load(monkeypatch):
    calls = []
    release = threading.Event()

    def slow_load(self):
        calls.append(1)
        release.wait(5)
        return "processor", "model"

    monkeypatch.setattr(WhisperTranscriber, "_load", slow_load)
    asr = WhisperTranscriber("some/whisper")
    asr.start_loading()
    waiters = [threading.Thread(target=asr.wait) for _ in range(4)]
    for t in waiters:
        t.start()
    release.set()
    for t in waiters:
        t.join(5)
    assert calls == [1] and asr._model == "model"
