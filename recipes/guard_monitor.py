"""What a fine-tuning run reports at each text-gap measurement: the alignment guard's verdict, samples, WER."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from codec.audio import save_audio
from codec.interface import Codec
from recipes.alignment_guard import AlignmentGuard, Verdict, item_order_gaps, order_score
from recipes.run import Run
from recipes.train_tts import regenerate
from tts.model import TTSModel
from tts.synthesizer import Synthesizer

if TYPE_CHECKING:
    from eval.asr import ASR


class GuardMonitor:
    """`fit`'s monitor in a fine-tuning run: after each text-gap measurement, the guard's verdict (console and
    TensorBoard), samples of the held-out clips by the EMA model (WAV under `run_dir/samples/step-…/` and
    TensorBoard) and, when a recognizer is given, their WER; with `stop_if_not_aligned`, stops a flagged run."""

    def __init__(self, run: Run, guard: AlignmentGuard, codec: Codec, items: list[dict], nfe: int,
                 asr: Callable[[], ASR] | None = None, stop_if_not_aligned: bool = False):
        self.run, self.guard, self.codec, self.items, self.nfe = run, guard, codec, items, nfe
        self.asr_factory = asr
        self.asr: ASR | None = None
        self.stop_if_not_aligned = stop_if_not_aligned
        self.verdicts: list[Verdict] = []
        self._synthesizer: Synthesizer | None = None

    def __call__(self, step: int, gap: dict[str, float], model: TTSModel, ema: TTSModel,
                 batch: dict[str, torch.Tensor]) -> bool:
        gaps = item_order_gaps(model, batch)
        self.run.log({"guard/order_score": order_score(gaps)}, step)
        verdict = self.guard.update(step, gaps)
        self.verdicts.append(verdict)
        self._say(verdict.message)
        self.run.log({"guard/uses_text": float(verdict.uses_text), "guard/not_aligned": float(verdict.not_aligned)},
                     step)
        if self.run.writer is not None:
            self.run.writer.add_text("guard/verdict", verdict.message, step)
        self._samples(step, ema)
        if verdict.not_aligned and self.stop_if_not_aligned:
            self._say(f"stopping at step {step} (--stop-if-not-aligned): the model is not using the text; see the "
                      f"warning above")
            return True
        return False

    def _say(self, message: str) -> None:
        if self.run.bar is not None:
            self.run.bar.write(message)
        else:
            print(message, flush=True)

    def _samples(self, step: int, ema: TTSModel) -> None:
        if not self.items:
            return
        if self._synthesizer is None or self._synthesizer.model is not ema:
            self._synthesizer = Synthesizer(ema, self.codec)
            self._synthesizer.cuda_graphs = False  # graphs would keep a bf16 copy of the DiT for the whole run
        folder = self.run.dir / "samples" / f"step-{step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        sr = self.codec.sample_rate
        wavs = []
        for item in self.items:
            wav = regenerate(self._synthesizer, item, self.nfe).float().cpu()
            save_audio(folder / (item["id"].replace("/", "__") + ".wav"), wav, sr)
            self.run.log_audio(f"samples/{item['id']}", wav, step, sr)
            wavs.append(wav)
        line = f"step {step}: samples of {len(wavs)} held-out clips in {folder}"
        wer = self._wer(wavs, [item["text"] for item in self.items], sr)
        if wer is not None:
            self.run.log({"samples/wer": wer}, step)
            line += f", WER {wer:.3f} (the first third of each is the clip itself)"
        self._say(line)

    def _wer(self, wavs: list[torch.Tensor], texts: list[str], sample_rate: int) -> float | None:
        if self.asr is None and self.asr_factory is not None:
            try:
                self.asr = self.asr_factory()
            except Exception as err:  # noqa: BLE001 - a missing package or model: samples go on without WER
                self._say(f"WER of the samples is off: the recognizer could not be loaded ({err})")
            self.asr_factory = None
        if self.asr is None:
            return None
        from eval.wer import summarize_wer

        return summarize_wer(texts, self.asr.transcribe(wavs, sample_rate)).mean_utterance_wer

    def state_dict(self) -> dict:
        return self.guard.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.guard.load_state_dict(state)
