import dataclasses
import json
import os
import socket
import subprocess
import sys

import pytest

from recipes.run import LOCK_NAME, Run, RunLockedError, acquire_lock, release_lock


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_start_is_refused_naming_the_holder(tmp_path):
    lock = acquire_lock(tmp_path)
    holder = json.loads(lock.read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(RunLockedError, match=f"pid {os.getpid()} on {socket.gethostname()}"):
        acquire_lock(tmp_path)
    release_lock(lock)
    assert not lock.exists()
    acquire_lock(tmp_path)  # free again


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    pid = dead_pid()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "earlier"}))
    lock = acquire_lock(tmp_path)
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    out = capsys.readouterr().out
    assert f"pid {pid}" in out and "no longer running" in out


def test_lock_from_another_host_is_refused(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": dead_pid(), "host": "elsewhere-42", "since": "earlier"}))
    with pytest.raises(RunLockedError, match="elsewhere-42.*delete"):
        acquire_lock(tmp_path)


@dataclasses.dataclass(frozen=True)
class Config:
    a: int = 1


def test_run_holds_the_folder_while_open(tmp_path):
    with Run(tmp_path, Config(), "no", cpu=True):
        assert (tmp_path / LOCK_NAME).is_file()
        with pytest.raises(RunLockedError, match="being trained by"):
            Run(tmp_path, Config(), "no", cpu=True)
    assert not (tmp_path / LOCK_NAME).exists()
    with pytest.raises(ValueError, match="different config"):  # a failed start releases the folder too
        Run(tmp_path, Config(a=2), "no", cpu=True)
    assert not (tmp_path / LOCK_NAME).exists()
