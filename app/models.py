"""Loading the models once at start-up, and the status line that tells users what was loaded.

A missing or broken checkpoint does not stop the app: the page starts, says what is missing and
how to get it, and every request is answered with the same message.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from codec import GRIFFIN_LIM, Codec
from codec.checkpoint import CheckpointError
from tts import Synthesizer, SynthesisOptions

logger = logging.getLogger(__name__)

# F5-TTS v1 Base's released weights (hub SWivid/F5-TTS, subfolder F5TTS_v1_Base) on mel, with Vocos.
DEFAULT_TTS = "F5TTS_v1_Base"

HOW_TO_GET_TTS = (
    f"The default, F5-TTS v1 Base (`{DEFAULT_TTS}`: hub `SWivid/F5-TTS`, with the Vocos vocoder "
    "`charactr/vocos-mel-24khz`), is downloaded from the Hugging Face Hub on the first start (internet needed "
    "once, then cached; or copy the Hugging Face cache from a machine that has it). Or train a model with "
    "`accelerate launch -m recipes.train_tts --config base --shards data/latents/train --run-dir runs/tts-base ...` "
    "(README, section Training), then start the app with `--tts runs/tts-base/checkpoints/step-XXXXXXXX/ema` or "
    "set `CUBETTS_TTS` to that folder or to a hub id."
)
HOW_TO_GET_CODEC = (
    "The codec the TTS model records is downloaded from the Hugging Face Hub once (internet needed the first "
    "time); or pass `--codec` a local copy (a WavCube `.ckpt` or saved folder; a Vocos folder with config.yaml "
    f"and pytorch_model.bin; or `{GRIFFIN_LIM}` for mel models, the low-quality fallback), or set `CUBETTS_CODEC`."
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
    latent: str | None = None  # e.g. "mel, 100-d at 93.75 Hz (24 kHz audio)", once loaded
    licence: str | None = None  # of the TTS weights

    @property
    def ready(self) -> bool:
        return self.problem is None

    def markdown(self) -> str:
        lines = [f"**Models** · TTS: `{self.tts or 'none'}`"
                 + (f" on {self.latent} latents" if self.latent else "") + f" · codec: `{self.codec}` · "
                 f"ASR: `{self.asr}` (loaded on first use without a transcript) · device: `{self.device}`"]
        if self.licence:
            lines.append(f"**Licence of the TTS weights:** {self.licence}")
        if self.problem:
            lines.append(f"**Not ready:** {self.problem}")
        lines += [f"**Warning:** {w}" for w in self.warnings]
        return "\n\n".join(lines)


def describe_device(device: torch.device) -> tuple[str, tuple[str, ...]]:
    """A device's name for the page, and the warning that CPU synthesis is slow."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})", ()
    return str(device), (f"running on {device}, with no GPU: synthesis will be slow.",)


def describe_latent(codec: Codec) -> str:
    """`mel, 100-d at 93.75 Hz (24 kHz audio)` / `WavCube, 128-d at 50 Hz (16 kHz audio)`, and the decoder."""
    name = {"wavcube": "WavCube", "mel": "mel"}.get(codec.kind, codec.kind)
    text = f"{name}, {codec.latent_dim}-d at {codec.frame_rate:g} Hz ({codec.sample_rate / 1000:g} kHz audio)"
    if getattr(codec, "source", None) == GRIFFIN_LIM:
        text += ", decoded by Griffin-Lim (the low-quality fallback)"
    return text


def load_synthesizer(tts: str | None, codec: str | None, asr: str, device: torch.device,
                     options: SynthesisOptions = SynthesisOptions(),
                     codec_kwargs: dict | None = None) -> tuple[Synthesizer | None, ModelStatus]:
    """Load the TTS model and codec onto `device`; on failure return None and a status saying why.

    `tts` is a local path, hub id or release name (`F5TTS_v1_Base`); `codec` None takes the codec
    the TTS checkpoint records, else a local path or hub id (`codec_kwargs`: subfolder, revision).
    `asr` is read only when a request comes without a reference transcript.
    """
    device_name, warnings = describe_device(device)
    subfolder = (codec_kwargs or {}).get("subfolder")
    codec_name = "the one the TTS checkpoint records" if codec is None else f"{codec} ({subfolder})" if subfolder \
        else codec
    status = ModelStatus(tts, codec_name, asr, device_name, warnings=warnings)
    if not tts:
        problem = f"no TTS model given (`--tts` or the `CUBETTS_TTS` environment variable). {HOW_TO_GET_TTS}"
        return None, _failed(status, problem)
    try:
        synthesizer = Synthesizer.from_pretrained(tts, codec, device, asr, options, **(codec_kwargs or {}))
    except (CheckpointError, OSError, ValueError) as err:
        hints = [h for keys, h in ((("TTS",), HOW_TO_GET_TTS), (("codec", "Vocos"), HOW_TO_GET_CODEC))
                 if any(key in str(err) for key in keys)]
        hints = hints or [HOW_TO_GET_TTS, HOW_TO_GET_CODEC]
        return None, _failed(status, " ".join([str(err).rstrip(".") + "."] + hints))
    except Exception as err:  # anything else a broken model does while it is built (out of memory, ...): the page
        logger.exception("the models could not be loaded")  # still starts, and says it
        return None, _failed(status, f"the models could not be loaded: {type(err).__name__}: {err}. {HOW_TO_GET_TTS}")
    loaded = synthesizer.codec
    source = getattr(loaded, "source", None)
    status = dataclasses.replace(status, codec=f"{source} ({loaded.subfolder})" if getattr(loaded, "subfolder", None)
                                 else str(source or codec_name), latent=describe_latent(loaded),
                                 licence=synthesizer.model.config.license or "not recorded: see the checkpoint")
    logger.info("loaded TTS %s and codec %s on %s", tts, status.codec, device_name)
    return synthesizer, status


def _failed(status: ModelStatus, problem: str) -> ModelStatus:
    logger.error("models not loaded: %s", problem)
    return dataclasses.replace(status, problem=problem)
