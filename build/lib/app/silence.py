"""The page's "remove silences" option: long pauses inside generated speech are shortened."""
from __future__ import annotations

import torch

from tts.splice import FRAME_SECONDS, SILENCE_DB, frame_db, is_silent

# Pauses between sentences of read speech last about 0.3-0.5 s; longer gaps in generated speech are
# hesitations of the model, and cutting them to this keeps the rhythm of a sentence end.
MAX_PAUSE_SECONDS = 0.5


def shorten_pauses(wav: torch.Tensor, sample_rate: int, max_pause: float = MAX_PAUSE_SECONDS) -> torch.Tensor:
    """wav: (T,) → (T',) with every silent stretch longer than `max_pause` cut down to `max_pause`.

    Silence is judged per 20 ms frame against the loudest frame, as `tts.splice` judges it; the cut
    is made in the middle of the pause, so the decay of the speech before it and the onset after
    it are kept.
    """
    if is_silent(wav, sample_rate):
        return wav
    hop = round(FRAME_SECONDS * sample_rate)
    db = frame_db(wav, sample_rate)  # (F,)
    silent = (db <= db.max() - SILENCE_DB).tolist()
    keep = [True] * len(silent)
    max_frames = max(1, round(max_pause / FRAME_SECONDS))
    start = None
    for i, s in enumerate(silent + [False]):  # a voiced sentinel closes a pause at the very end
        if s and start is None:
            start = i
        elif not s and start is not None:
            if i - start > max_frames:
                head = max_frames // 2
                keep[start + head: i - (max_frames - head)] = [False] * (i - start - max_frames)
            start = None
    frame_keep = torch.tensor(keep)  # (F,)
    sample_keep = frame_keep.repeat_interleave(hop)[: wav.shape[0]]  # (F * hop,) → (T,)
    return wav[sample_keep]
