"""One prepared GPU run: every measurement that needs a GPU, each step under its own time cap, one report.

    bash eval/gpu_suite.sh --out runs/gpu_suite            # one GPU: at most 12 minutes by design
    bash eval/gpu_suite.sh --dry --out /tmp/gpu_suite      # the same steps on the CPU, tiny sizes, short caps

Steps, in order (`STEPS`; caps in seconds, GPU / dry):
- `env`: torch, the GPU, the packages the steps import, the F5-TTS environment;
- `gpu-tests`: the CUDA-graph and bf16 tests (tests/tts/test_graphs.py, tests/tts/test_gpu.py,
  tests/codec/test_gpu.py) and the streaming decoder's (tests/codec/test_streaming.py);
- `compare-f5`: `eval.bench_tts --compare-f5` at NFE 32 and EPSS 7, batch 1 and 8, base size; without
  F5-TTS's environment (`--f5-python`, `$F5_PYTHON`, else `f5env/` in or beside the repository) it
  times ours alone and says so;
- `throughput`: `eval.bench_tts --concurrency 1 4 16` (the app's batcher), seconds of speech per second;
- `codec-rtf`: `eval.bench_codec`, WavCube's encode/decode real-time factors, fp32 and bf16;
- `streaming`: `eval.bench_streaming`, shortened and streamed decoding: error and time per push;
- `first-audio`: `eval.bench_first_audio --streams 4`, base size: time to first audio streamed and whole, and
  four streams served one by one or together (the batcher's `stream_batch`);
- `learning`: `eval.suite_learning`, the learning benchmark's generalise tier cut to the time left.

Each step runs as its own process group, killed at its cap; its output goes to `logs/<step>.log`
and the JSON it writes is folded into the report (`report.json`, `report.md` in `--out`). A step's
status is `ok`, `failed` (its exit status), `timeout`, or `skipped` (with the reason). The caps add
up to `TOTAL_CAP_S` (checked at import); a step never runs past what is left of it. `--dry` runs the
same steps on the CPU with tiny models and `DRY_TOTAL_CAP_S`: the test suite runs it
(tests/eval/test_gpu_suite.py), so the script is known to work before a GPU is lent.
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import runpy
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOTAL_CAP_S = 720  # 12 minutes: the suite must fit one 15-minute GPU loan with the machine's start-up
DRY_TOTAL_CAP_S = 75  # with the ~10 s of imports before the first step: the test's 90 s on a 2-core CPU
SKIPPED = 3  # exit status by which a step says it could not run here (the reason is its last line)
GPU_TESTS = ["tests/tts/test_graphs.py", "tests/tts/test_gpu.py", "tests/codec/test_gpu.py",
             "tests/codec/test_streaming.py"]


@dataclass(frozen=True)
class Step:
    """One measurement: `python -m argv[0] argv[1:]` on the GPU, `dry_argv` on the CPU (empty: not run there);
    `{out}` in either is the step's own folder, `{seconds}` its cap less 5 s. Caps in seconds; a `cap_s` of None
    takes what is left of the total."""

    name: str
    what: str
    cap_s: int | None
    dry_cap_s: int
    argv: list[str]
    dry_argv: list[str]
    results: str | None = None  # the JSON file (in the step's folder) the command writes
    needs_f5: bool = False  # the `--compare-f5` step: run with F5-TTS's row when its environment is there


STEPS = [
    Step("env", "torch, GPU, packages, F5-TTS environment", 15, 5,
         ["eval.gpu_suite", "--env", "{out}/env.json"], ["eval.gpu_suite", "--env", "{out}/env.json"],
         results="env.json"),
    Step("gpu-tests", "CUDA-graph, bf16 and streaming tests", 120, 8,
         ["pytest", "-q", "-p", "no:cacheprovider", "--junitxml", "{out}/junit.xml", *GPU_TESTS],
         ["pytest", "-q", "-p", "no:cacheprovider", "--junitxml", "{out}/junit.xml",
          "tests/tts/test_gpu.py", "tests/codec/test_gpu.py"]),
    Step("compare-f5", "bench_tts --compare-f5: NFE 32 and EPSS 7, batch 1 and 8, base", 210, 14,
         ["eval.bench_tts", "--preset", "base", "--nfe", "32", "7", "--batch", "1", "8", "--json",
          "{out}/bench_tts.json"],
         ["eval.bench_tts", "--preset", "tiny", "--codecs", "mel", "--nfe", "2", "--batch", "1", "--seconds",
          "1", "--ref-seconds", "1", "--threads", "1", "--json", "{out}/bench_tts.json"],
         results="bench_tts.json", needs_f5=True),
    Step("throughput", "bench_tts --concurrency 1 4 16: seconds of speech per second", 105, 14,
         ["eval.bench_tts", "--preset", "base", "--concurrency", "1", "4", "16", "--nfe", "32", "--json",
          "{out}/throughput.json"],
         ["eval.bench_tts", "--preset", "tiny", "--codecs", "mel", "--concurrency", "1", "2", "--requests", "1",
          "--nfe", "2", "--seconds", "1", "--ref-seconds", "1", "--threads", "1", "--json", "{out}/throughput.json"],
         results="throughput.json"),
    Step("codec-rtf", "bench_codec: WavCube encode/decode real-time factors", 60, 1,
         ["eval.bench_codec", "--device", "cuda"],
         []),  # dry: the full-size codec alone takes minutes to build and run on a CPU
    Step("streaming", "bench_streaming: shortened and streamed decode, error and time per push", 45, 5,
         ["eval.bench_streaming", "--device", "cuda", "--codecs", "wavcube-base", "vocos-base", "--context",
          "0", "40", "80", "160", "--lookahead", "5", "10", "20", "--json", "{out}/streaming.json"],
         ["eval.bench_streaming", "--codecs", "wavcube-tiny", "vocos-tiny", "--prompt-seconds", "1",
          "--seconds", "2", "--context", "40", "--lookahead", "10", "--json", "{out}/streaming.json"],
         results="streaming.json"),
    Step("first-audio", "bench_first_audio: first audio, streamed and whole; 4 streams one by one and together",
         75, 1, ["eval.bench_first_audio", "--device", "cuda", "--preset", "base", "--streams", "4"],
         []),  # dry: the full-size codec; the tests run it at the tiny size (tests/eval/test_bench_first_audio.py)
    Step("learning", "bench_learning's generalise tier, cut to the time left", None, 27,
         ["eval.suite_learning", "--device", "cuda", "--out", "{out}", "--seconds", "{seconds}"],
         ["eval.suite_learning", "--dry", "--out", "{out}", "--seconds", "{seconds}"],
         results="learning.json"),
]
# By design: the fixed caps leave the last step a share of the total, and the dry caps fit the test.
assert sum(s.cap_s for s in STEPS if s.cap_s is not None) <= TOTAL_CAP_S - 60, "GPU step caps exceed 12 minutes"
assert sum(s.dry_cap_s for s in STEPS) <= DRY_TOTAL_CAP_S, "dry step caps exceed the dry budget"


def caps(dry: bool) -> dict[str, int]:
    """Each step's cap in seconds by design; the open-ended step gets what the others leave."""
    total = DRY_TOTAL_CAP_S if dry else TOTAL_CAP_S
    fixed = {s.name: (s.dry_cap_s if dry else s.cap_s) for s in STEPS}
    rest = total - sum(c for c in fixed.values() if c is not None)
    return {name: rest if c is None else c for name, c in fixed.items()}


def warm_up() -> None:
    """Import what the steps import, once, before they are forked (on a small CPU importing torch, transformers
    and the project takes ~13 s of CPU per process). Nothing here may start CUDA or a thread pool: a forked
    child could not use them."""
    import pytest  # noqa: F401

    import codec  # noqa: F401
    import eval.bench_first_audio  # noqa: F401
    import eval.bench_learning  # noqa: F401
    import eval.bench_streaming  # noqa: F401
    import eval.bench_tts  # noqa: F401
    import tts  # noqa: F401


def find_f5_python(given: str | None) -> str | None:
    """The python of F5-TTS's side environment: `given`, `$F5_PYTHON`, or `f5env/bin/python` in or beside the
    repository; None when none exists."""
    for candidate in (given, os.environ.get("F5_PYTHON"), REPO / "f5env/bin/python", REPO.parent / "f5env/bin/python"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


@dataclass
class Outcome:
    name: str
    what: str
    command: str
    cap_s: int
    status: str = "skipped"
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    note: str = ""
    log: str = ""
    results: object = None
    tail: list[str] = field(default_factory=list)


def _child(module: str, args: list[str], log: Path) -> None:
    """A forked step: its output to `log`, `python -m module args` run in this process; exits with its status."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", 0), write_through=True)
    sys.stderr = sys.stdout
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, (int, type(None))):
            print(stop.code)
    except BaseException:  # noqa: BLE001 - any failure is the step's, reported by its status and log
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    os._exit(code)


def run_step(step: Step, argv: list[str], cap: int, out: Path) -> Outcome:
    """Run one step as `python -m argv[0] argv[1:]` in a forked child (the modules this process imported are
    shared, not imported again), killed at `cap` seconds (SIGTERM, then SIGKILL 5 s later)."""
    folder = out / step.name
    folder.mkdir(parents=True, exist_ok=True)
    log = out / "logs" / f"{step.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [a.replace("{out}", str(folder)).replace("{seconds}", str(max(1, cap - 5))) for a in argv]
    outcome = Outcome(step.name, step.what, "python -m " + " ".join(argv), cap, log=str(log.relative_to(out)))
    start, cpu = time.perf_counter(), os.times()
    proc = multiprocessing.get_context("fork").Process(target=_child, args=(argv[0], argv[1:], log))
    proc.start()
    proc.join(cap)
    timed_out = proc.is_alive()
    if timed_out:
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    code = proc.exitcode
    outcome.seconds = round(time.perf_counter() - start, 1)
    used = os.times()
    outcome.cpu_seconds = round(used.children_user + used.children_system - cpu.children_user - cpu.children_system, 1)
    lines = log.read_text(errors="replace").splitlines()
    outcome.tail = lines[-25:]
    if timed_out:
        outcome.status, outcome.note = "timeout", f"killed at its cap of {cap} s"
    elif code == 0:
        outcome.status = "ok"
    elif code == SKIPPED:
        outcome.status, outcome.note = "skipped", lines[-1] if lines else ""
    else:
        outcome.status, outcome.note = "failed", f"exit status {code}" + (f": {lines[-1]}" if lines else "")
    if step.results and (folder / step.results).is_file():
        outcome.results = json.loads((folder / step.results).read_text())
    return outcome


def run_suite(out: Path, dry: bool, f5_python: str | None, only: list[str] | None = None) -> dict:
    """All steps (or those named in `only`) in order, within the total cap; writes and returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    warm_up()
    total = DRY_TOTAL_CAP_S if dry else TOTAL_CAP_S
    planned = caps(dry)
    start = time.perf_counter()
    outcomes = []
    for step in STEPS:
        argv = step.dry_argv if dry else step.argv
        left = int(total - (time.perf_counter() - start))
        cap = min(planned[step.name], left) if step.cap_s is not None else left
        if only is not None and step.name not in only:
            outcomes.append(Outcome(step.name, step.what, "", cap, note="not asked for (--only)"))
        elif not argv:
            outcomes.append(Outcome(step.name, step.what, "", cap, note="dry: not run on a CPU (the full-size model)"))
        elif cap < 5:
            outcomes.append(Outcome(step.name, step.what, "", cap, note="no time left"))
        else:
            note = ""
            if step.needs_f5:
                if f5_python:
                    argv = argv + ["--compare-f5", "--f5-python", f5_python]
                else:
                    note = "F5-TTS's environment not found (--f5-python, $F5_PYTHON, f5env/): ours timed alone"
            outcome = run_step(step, argv, cap, out)
            outcome.note = "; ".join(n for n in (note, outcome.note) if n)
            outcomes.append(outcome)
        o = outcomes[-1]
        print(f"[{time.perf_counter() - start:6.1f} s] {o.name}: {o.status} ({o.seconds:g} s of {o.cap_s} s)"
              + (f": {o.note}" if o.note else ""), flush=True)
    report = {"created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "dry": dry, "total_cap_s": total,
              "planned_caps_s": planned, "seconds": round(time.perf_counter() - start, 1),
              "steps": [o.__dict__ for o in outcomes]}
    (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "report.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    found = [s["results"] for s in report["steps"] if s["name"] == "env" and s["results"]]
    env: dict = found[0] if found else {}
    lines = [f"# GPU suite{' (dry run, CPU)' if report['dry'] else ''}", "",
             f"{report['created']} · {env.get('device', 'device unknown')} · torch {env.get('torch', '?')} · "
             f"{report['seconds']:g} s of {report['total_cap_s']} s", "",
             "| step | status | seconds | CPU seconds | cap (s) | note |", "|---|---|---:|---:|---:|---|"]
    for s in report["steps"]:
        lines.append(f"| {s['name']} | {s['status']} | {s['seconds']:g} | {s['cpu_seconds']:g} | {s['cap_s']} | "
                     f"{s['note']} |")
    for s in report["steps"]:
        if s["tail"]:
            lines += ["", f"## {s['name']}: {s['what']}", "", f"`{s['command']}`", "", "```",
                      *s["tail"], "```"]
    return "\n".join(lines) + "\n"


def describe_env(path: Path) -> None:
    """The `env` step: what this machine offers the other steps, as JSON."""
    import importlib.util

    import torch

    info = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)",
            "python": sys.version.split()[0], "f5_python": find_f5_python(None),
            "espeak-ng": shutil.which("espeak-ng"),
            "packages": {name: importlib.util.find_spec(name) is not None
                         for name in ("vocos", "g2p_en", "transformers", "faster_whisper", "resemblyzer",
                                      "pocketsphinx", "soundfile")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/gpu_suite"), help="folder for the report and logs")
    p.add_argument("--dry", action="store_true", help="on the CPU, tiny sizes, short caps")
    p.add_argument("--only", nargs="+", choices=[s.name for s in STEPS], help="run these steps alone")
    p.add_argument("--f5-python", help="python of F5-TTS's environment (default $F5_PYTHON, else f5env/)")
    p.add_argument("--env", type=Path, help=argparse.SUPPRESS)  # the env step's own entry
    args = p.parse_args(argv)
    os.chdir(REPO)  # the steps' paths (tests/...) are the repository's
    if args.env:
        describe_env(args.env)
        return
    # A dry run times F5-TTS only when asked to: its environment's start-up alone would take the dry budget.
    f5_python = find_f5_python(args.f5_python) if args.f5_python or not args.dry else None
    report = run_suite(args.out, args.dry, f5_python, args.only)
    print(f"report: {args.out / 'report.md'}")
    sys.exit(0 if all(s["status"] in ("ok", "skipped") for s in report["steps"]) else 1)


if __name__ == "__main__":
    main()
