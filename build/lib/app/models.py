"""Loading the models once at start-up, and the status line that tells users what was loaded.

A missing or broken checkpoint does not stop the app: the page starts, says what is missing and
how to get it, and every request is answered with the same message.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from codec.checkpoint import CheckpointError
from tts import Synthesizer, SynthesisOptions

logger = logging.getLogger(__name__)

HOW_TO_GET_TTS = (
    "Train one with `accelerate launch recipes/train_tts.py --config base --shards data/latents/train "
    "--run-dir runs/tts-base ...` (README, section Training), then start the app with "
    "`--tts runs/tts-base/checkpoints/step-XXXXXXXX/ema` or set `CUBETTS_TTS` to that folder or to a hub id."
)
HOW_TO_GET_CODEC = (
    "The default `yhaha/WavCube` is downloaded from the Hugging Face Hub once (internet needed the first "
    "time); or pass `--codec` a local WavCube `.ckpt` or saved folder, or set `CUBETTS_CODEC`."
)


@dataclass(frozen=True)
class ModelStatus:
    """What the app runs on, as shown at the top of the page.

    `problem` is None when the models are loaded; otherwise it says what is missing and how to get
    it, and the app answers every request with it.
    """

    tts: str | None
    codec: str
    asr: str
    device: str
    problem: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.problem is None

    def markdown(self) -> str:
        lines = [f"**Models** · TTS: `{self.tts or 'none'}` · codec: `{self.codec}` · "
                 f"ASR: `{self.asr}` (loaded on first use without a transcript) · device: `{self.device}`"]
        if self.problem:
            lines.append(f"**Not ready:** {self.problem}")
        lines += [f"**Warning:** {w}" for w in self.warnings]
        return "\n\n".join(lines)


def describe_device(device: torch.device) -> tuple[str, tuple[str, ...]]:
    """A device's name for the page, and the warning that CPU synthesis is slow."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})", ()
    return str(device), (f"running on {device}, with no GPU: synthesis will be slow.",)


def load_synthesizer(tts: str | None, codec: str, asr: str, device: torch.device,
                     options: SynthesisOptions = SynthesisOptions(),
                     codec_kwargs: dict | None = None) -> tuple[Synthesizer | None, ModelStatus]:
    """Load the TTS model and codec onto `device`; on failure return None and a status saying why.

    `tts` and `codec` are local paths or hub ids; `asr` is read only when a request comes without
    a reference transcript.
    """
    device_name, warnings = describe_device(device)
    subfolder = (codec_kwargs or {}).get("subfolder")
    status = ModelStatus(tts, f"{codec} ({subfolder})" if subfolder else codec, asr, device_name, warnings=warnings)
    if not tts:
        problem = f"no TTS model given (`--tts` or the `CUBETTS_TTS` environment variable). {HOW_TO_GET_TTS}"
        return None, _failed(status, problem)
    try:
        synthesizer = Synthesizer.from_pretrained(tts, codec, device, asr, options, **(codec_kwargs or {}))
    except (CheckpointError, OSError, ValueError) as err:
        hints = [h for key, h in (("TTS", HOW_TO_GET_TTS), ("codec", HOW_TO_GET_CODEC)) if key in str(err)]
        hints = hints or [HOW_TO_GET_TTS, HOW_TO_GET_CODEC]
        return None, _failed(status, " ".join([str(err).rstrip(".") + "."] + hints))
    logger.info("loaded TTS %s and codec %s on %s", tts, codec, device_name)
    return synthesizer, status


def _failed(status: ModelStatus, problem: str) -> ModelStatus:
    logger.error("models not loaded: %s", problem)
    return dataclasses.replace(status, problem=problem)
