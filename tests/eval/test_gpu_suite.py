"""eval/gpu_suite.sh --dry: the prepared GPU run works before a GPU is lent, and its caps fit 12 minutes by design."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eval import gpu_suite

REPO = Path(__file__).resolve().parents[2]


def test_gpu_caps_add_up_to_twelve_minutes_at_most():
    gpu = gpu_suite.caps(dry=False)
    assert set(gpu) == {s.name for s in gpu_suite.STEPS}
    assert sum(gpu.values()) <= 12 * 60 == gpu_suite.TOTAL_CAP_S
    assert min(gpu.values()) > 0 and gpu["learning"] >= 60  # the open-ended step keeps a real share
    assert sum(gpu_suite.caps(dry=True).values()) <= gpu_suite.DRY_TOTAL_CAP_S


@pytest.mark.timeout(300)
def test_dry_run_reports_every_step(tmp_path):
    """On the CPU, tiny sizes: every step ends with a status and none fails. On a loaded machine a step may
    reach its cap ("timeout"); on an idle 2-core CPU the whole run takes about 60 s."""
    start = time.perf_counter()
    proc = subprocess.run(["bash", str(REPO / "eval" / "gpu_suite.sh"), "--dry", "--out", str(tmp_path)],
                          env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=280)
    seconds = time.perf_counter() - start
    report = json.loads((tmp_path / "report.json").read_text())
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == [s.name for s in gpu_suite.STEPS], proc.stdout + proc.stderr
    failed = {n: s["note"] for n, s in steps.items() if s["status"] not in ("ok", "skipped", "timeout")}
    assert not failed, f"{failed}\n{proc.stdout}"
    assert report["dry"] and report["seconds"] <= gpu_suite.DRY_TOTAL_CAP_S + 10
    assert steps["codec-rtf"]["status"] == "skipped"  # the full-size codec is not run on a CPU
    assert "F5-TTS" in steps["compare-f5"]["note"]  # a dry run does not time F5-TTS unless asked
    md = (tmp_path / "report.md").read_text()
    assert all(f"| {name} | {s['status']} |" in md for name, s in steps.items())
    assert (tmp_path / "logs" / "env.log").is_file() and steps["env"]["results"]["torch"]
    print(f"dry run: {seconds:.0f} s")
