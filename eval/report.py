"""Reports: `report.json` (every number, the configuration, versions, device) and `report.md` (tables)."""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import torch

from codec.checkpoint import atomic_write

PUBLISHED_FILE = Path(__file__).parent / "data" / "published.json"
REPORT_VERSION = 1
_PACKAGES = ("torch", "torchaudio", "transformers", "jiwer", "resemblyzer", "pocketsphinx", "pesq", "pystoi",
             "soundfile", "numpy")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git_commit() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, machine and device: what a number depends on besides the model."""
    env: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "packages": package_versions(),
        "git_commit": _git_commit(), "device": str(device),
    }
    if device.type == "cuda":
        env["cuda_device"] = torch.cuda.get_device_name(device)
        env["cuda_version"] = torch.version.cuda
    return env


def new_report(task: str, config: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {"report_version": REPORT_VERSION, "task": task,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config": config, "environment": environment(device)}


def _finite(obj: Any) -> Any:
    """NaN/inf → None: JSON has no NaN, and a reader must see a missing score as missing."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_reports(out_dir: str | os.PathLike, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write `report.json` and `report.md` atomically into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    text = json.dumps(_finite(report), indent=2, ensure_ascii=False, default=str)
    atomic_write(json_path, lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))
    atomic_write(md_path, lambda tmp: Path(tmp).write_text(markdown, encoding="utf-8"))
    return json_path, md_path


def mean_summary(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The mean of each numeric field of `summaries` (runs that differ only in their seed); text fields are
    left out, and a score that is missing or None in any run has the mean None."""
    if not summaries:
        raise ValueError("no summaries to average")
    out: dict[str, Any] = {}
    for key in summaries[0]:
        values = [s.get(key) for s in summaries]
        if any(isinstance(v, (bool, str)) for v in values):
            continue
        finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        out[key] = sum(finite) / len(finite) if len(finite) == len(values) else None
    return out


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def md_config(config: dict[str, Any]) -> str:
    """Nested config → a bullet list (one level of nesting shown inline as JSON)."""
    return "".join(f"- **{k}**: `{json.dumps(v, default=str)}`\n" for k, v in config.items())


def models_match(asr: dict[str, Any] | None, speaker: dict[str, Any] | None, table: dict[str, Any]) -> dict[str, bool]:
    """Whether this run's ASR and speaker model (their `describe()`) are the ones a published table used.

    The ASR matches by checkpoint name (`openai/whisper-large-v3` or a local folder of that name, or faster-whisper's
    `large-v3`, which F5-TTS scores with; not -turbo).
    """
    asr_name = str((asr or {}).get("model", "")).rstrip("/").split("/")[-1]
    backend = (asr or {}).get("backend", "")
    if backend == "faster-whisper":  # F5-TTS's own scorer: the same weights in CTranslate2, named without "whisper-"
        asr_name = asr_name if asr_name.startswith("whisper-") else f"whisper-{asr_name}"
    return {"asr": backend.startswith(("whisper", "faster-whisper")) and asr_name == table["asr_model"],
            "speaker": (speaker or {}).get("backend") == table["speaker_model"]}


def load_published(table: str) -> dict[str, Any]:
    """One table of `eval/data/published.json`: its protocol description and rows, each with its source."""
    data = json.loads(PUBLISHED_FILE.read_text(encoding="utf-8"))
    if table not in data["tables"]:
        raise KeyError(f"no published table {table!r}; have {sorted(data['tables'])}")
    return data["tables"][table]
