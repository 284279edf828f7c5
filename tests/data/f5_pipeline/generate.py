"""Make the F5-TTS reference fixtures in this folder with F5-TTS 1.1.22's own code (never with cubetts).

Run from the repository root with the side environment (see README.md):

    OMP_NUM_THREADS=1 /work/f5env/bin/python tests/data/f5_pipeline/generate.py

It writes, next to this file: tiny random models in every release format F5-TTS produces (`models/`), a tiny
random Vocos in the hub layout (`vocos/`), F5 config yamls for the tiny models (`configs/`), reference clips
(`refs/`), `formats.pt` (one velocity and two `CFM.sample` runs per format) and `pipeline.pt` (`F5TTS.infer`
cases). Everything is float32 on CPU, single-threaded and seeded. F5 runs the chunks of a multi-chunk text in
threads that race for torch's global RNG; for those cases the script repeats the call until the chunks drew their
noise in chunk order (and records the orders it saw), so running it twice gives the same numbers.

Deviations from a stock F5-TTS run, all needed to run offline and none changing a number:
- torchaudio 2.11 decodes through torchcodec/FFmpeg, which this machine lacks, so `torchaudio.load` is replaced
  by a soundfile reader returning the same thing: a float32 tensor (channels, samples) scaled like torchaudio
  (int16 / 32768) and the sample rate. F5-TTS reads audio with `torchaudio.load` only in `infer_process` (and in
  training/eval code not used here); pydub reads and writes the WAV files itself (no ffmpeg needed for WAV).
- `expand_model_embeddings` and `prune_checkpoint` live in `f5_tts/train/finetune_gradio.py`, whose import builds
  a Gradio app and needs a `data/` folder outside site-packages; their source is taken from that file with `ast`
  and executed unchanged in a namespace holding their imports.
- `F5TTS(model=...)` only reads configs from the package's `configs/` folder; the tiny configs are passed as a
  path relative to that folder.
- F5 functions are wrapped (never edited) to record intermediates: `preprocess_ref_audio_text`, `chunk_text`,
  `convert_char_to_pinyin`, pydub's `split_on_silence`/`detect_leading_silence`, `torchdiffeq.odeint` as used
  by `CFM.sample`, `CFM.sample` itself and the vocoder's `decode`. The wrappers draw no random numbers.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import math
import os
import random
import shutil
import tempfile
import threading
from importlib.resources import files
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
import yaml

torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def _soundfile_load(uri, frame_offset=0, num_frames=-1, normalize=True, channels_first=True, format=None,
                    buffer_size=4096, backend=None):
    """torchaudio.load's contract for PCM WAV: float32 (C, T) scaled by 1/32768 for int16, and the rate."""
    assert normalize and frame_offset == 0 and num_frames == -1
    data, sr = sf.read(str(uri), dtype="float32", always_2d=True)  # (T, C)
    wav = torch.from_numpy(np.ascontiguousarray(data.T if channels_first else data))
    return wav, sr


torchaudio.load = _soundfile_load

import pydub.silence  # noqa: E402
from ema_pytorch import EMA  # noqa: E402
from pydub import AudioSegment  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from torch.optim import AdamW  # noqa: E402
from torch.optim.lr_scheduler import LinearLR, SequentialLR  # noqa: E402
from vocos import Vocos  # noqa: E402

import f5_tts.api as f5_api  # noqa: E402
import f5_tts.infer.utils_infer as f5_infer  # noqa: E402
import f5_tts.model.cfm as f5_cfm  # noqa: E402
from f5_tts.model import CFM, DiT, UNetT  # noqa: E402
from f5_tts.model.utils import convert_char_to_pinyin, list_str_to_idx  # noqa: E402

HERE = Path(__file__).resolve().parent
REALSPEECH = Path("/work/shared/testdata/realspeech")
F5_VERSION = "1.1.22"
MEL = dict(target_sample_rate=24000, n_mel_channels=100, hop_length=256, win_length=1024, n_fft=1024,
           mel_spec_type="vocos")

# ----------------------------------------------------------------------------------------------- F5 helpers


def _f5_finetune_functions():
    """expand_model_embeddings and prune_checkpoint, compiled from F5's finetune_gradio.py source unchanged."""
    path = Path(str(files("f5_tts").joinpath("train/finetune_gradio.py")))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wanted = {"expand_model_embeddings", "prune_checkpoint"}
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    assert {n.name for n in nodes} == wanted
    namespace = {"torch": torch, "os": os, "random": random, "load_file": load_file, "save_file": save_file}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["expand_model_embeddings"], namespace["prune_checkpoint"]


expand_model_embeddings, prune_checkpoint = _f5_finetune_functions()

# -------------------------------------------------------------------------------------------- tiny models

# Release flags from f5_tts/configs/*.yaml; only sizes are shrunk. dim_head stays at DiT's default 64 (the
# release yamls do not set it).
ARCHS = {
    "F5TTS_v1_Base": ("DiT", dict(dim=32, depth=2, heads=2, ff_mult=2, text_dim=16, text_mask_padding=True,
                                  qk_norm=None, conv_layers=2, pe_attn_head=None, attn_backend="torch",
                                  attn_mask_enabled=False, checkpoint_activations=False)),
    "F5TTS_Base": ("DiT", dict(dim=16, depth=2, heads=2, ff_mult=2, text_dim=16, text_mask_padding=False,
                               conv_layers=2, pe_attn_head=1, attn_backend="torch", attn_mask_enabled=False,
                               checkpoint_activations=False)),
    "F5TTS_v1_Small": ("DiT", dict(dim=16, depth=1, heads=2, ff_mult=2, text_dim=16, text_mask_padding=True,
                                   qk_norm=None, conv_layers=2, pe_attn_head=None, attn_backend="torch",
                                   attn_mask_enabled=False, checkpoint_activations=False)),
    "E2TTS_Base": ("UNetT", dict(dim=16, depth=2, heads=2, ff_mult=2, text_mask_padding=False, pe_attn_head=1)),
}
BACKBONES = {"DiT": DiT, "UNetT": UNetT}


def randomize_(module: torch.nn.Module, seed: int) -> None:
    """Redraw every parameter (F5 zero-initialises adaLN and output layers; a zero layer would hide bugs).

    Matrices and conv kernels: normal, std 0.7 / sqrt(fan_in). Scales of norms (1-D `weight`, or `g` in
    x_transformers' RMSNorm used by UNetT): 1 + 0.1 N(0, 1).
    Everything else (biases, GRN and layer-scale vectors): 0.05 N(0, 1). Buffers (rotary inv_freq, mel filters,
    windows) keep their computed values, as in a real checkpoint.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            z = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim >= 2 and p.shape[0] > 1 and p[0].numel() > 1:
                p.copy_(z * 0.7 / math.sqrt(p[0].numel()))
            elif p.ndim == 1 and name.rsplit(".", 1)[-1] in ("weight", "g"):  # norm scales (x_transformers: g)
                p.copy_(1.0 + 0.1 * z)
            else:
                p.copy_(0.05 * z)


def build_cfm(name: str, vocab_size: int, seed: int) -> CFM:
    """A CFM built exactly as F5's load_model builds it, with random weights."""
    backbone, arch = ARCHS[name]
    model = CFM(
        transformer=BACKBONES[backbone](**arch, text_num_embeds=vocab_size, mel_dim=100),
        mel_spec_kwargs=dict(MEL),
        odeint_kwargs=dict(method="euler"),
    )
    randomize_(model, seed)
    return model.eval()


def ema_state_dict(model: CFM, step: int) -> dict:
    """What F5's released checkpoints hold: an ema_pytorch EMA's state dict (initted, step, ema_model.*)."""
    ema = EMA(model, include_online_model=False)
    ema.ema_model.load_state_dict(model.state_dict())
    ema.initted.fill_(True)
    ema.step.fill_(step)
    return {k: v.detach().clone().contiguous() for k, v in ema.state_dict().items()}


def trainer_checkpoint(online: CFM, ema_model: CFM, update: int, seed: int) -> dict:
    """The dict F5's Trainer.save_checkpoint writes (model/trainer.py 150-159), after real optimizer steps."""
    torch.manual_seed(seed)
    online.train()
    ema = EMA(online, include_online_model=False)
    optimizer = AdamW(online.parameters(), lr=7.5e-5, fused=True)  # as Trainer.__init__ (trainer.py 143)
    warmup, total = 10, 100
    scheduler = SequentialLR(optimizer, schedulers=[
        LinearLR(optimizer, start_factor=1e-8, end_factor=1.0, total_iters=warmup),
        LinearLR(optimizer, start_factor=1.0, end_factor=1e-8, total_iters=total - warmup)], milestones=[warmup])
    mel = torch.randn(2, 40, 100) * 2 - 5
    text = torch.randint(0, 50, (2, 20))
    for _ in range(3):
        loss, _, _ = online(mel, text=text, lens=torch.tensor([40, 33]))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        ema.update()
    online.eval()
    # A long-trained EMA differs from the online weights; make it so here (a loader that reads the online
    # weights for use_ema=True is then caught).
    ema.ema_model.load_state_dict(ema_model.state_dict())
    return dict(
        model_state_dict=online.state_dict(),
        optimizer_state_dict=optimizer.state_dict(),
        ema_model_state_dict=ema.state_dict(),
        scheduler_state_dict=scheduler.state_dict(),
        update=update,
    )


def write_vocab(path: Path, tokens: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def write_config(name: str, backbone: str, arch: dict) -> Path:
    """An F5 model config (same layout as f5_tts/configs/*.yaml) for a tiny model."""
    cfg = {"model": {"name": name, "tokenizer": "custom", "tokenizer_path": None, "backbone": backbone,
                     "arch": arch, "mel_spec": dict(MEL), "vocoder": {"is_local": True, "local_path": None}}}
    path = HERE / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def write_vocos(folder: Path, seed: int) -> None:
    """charactr/vocos-mel-24khz's config with a smaller backbone (dim 16, intermediate 32, 2 layers)."""
    cfg = {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                              "init_args": dict(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100,
                                                padding="center")},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": dict(input_channels=100, dim=16, intermediate_dim=32, num_layers=2)},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": dict(dim=16, n_fft=1024, hop_length=256, padding="center")},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    vocos = Vocos.from_hparams(str(folder / "config.yaml"))
    randomize_(vocos, seed)
    torch.save(vocos.state_dict(), folder / "pytorch_model.bin")


# ------------------------------------------------------------------------------------------------ vocab

CHINESE = "你好，欢迎使用语音合成。"
EXTRA_TOKENS = ["é", "ß", "ñ", "ŋ"]


def tiny_vocab() -> list[str]:
    """F5's own vocab.txt, in its order, kept to printable ASCII plus the tokens of the Chinese test text."""
    f5_vocab = [line[:-1] for line in open(files("f5_tts").joinpath("infer/examples/vocab.txt"), encoding="utf-8")]
    needed = set(convert_char_to_pinyin([CHINESE])[0])
    vocab = [t for t in f5_vocab if (len(t) == 1 and 32 <= ord(t) < 127) or t in needed]
    assert vocab[0] == " " and needed <= set(vocab)
    return vocab


def extend_vocab(vocab: list[str], symbols: list[str]) -> list[str]:
    """finetune_gradio.vocab_extend's list handling: split on \\n, pop the trailing '', append, append ''."""
    lines = ("\n".join(vocab) + "\n").split("\n")
    lines.pop()
    lines += [s for s in symbols if s not in set(lines)]
    lines.append("")
    return "\n".join(lines).split("\n")[:-1]


# -------------------------------------------------------------------------------------------- references


def _pcm16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def make_refs() -> dict[str, dict]:
    """Reference clips (PCM16 WAV) from /work/shared/testdata/realspeech (LibriTTS / LibriSpeech, CC BY 4.0)."""
    out = HERE / "refs"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)

    def read(rel):
        x, sr = sf.read(REALSPEECH / rel, dtype="int16")
        return x, sr

    refs = {}
    # 24 kHz, byte copy.
    shutil.copyfile(REALSPEECH / "libritts_test_clean/5142_33396_000002_000004.wav", out / "en24k.wav")
    refs["en24k"] = dict(file="refs/en24k.wav", text="Ten sons sat at meat with him, and I was the youngest.",
                         source="libritts_test_clean/5142_33396_000002_000004.wav (byte copy)")
    # 16 kHz: FLAC decoded losslessly to PCM16 WAV.
    a, sr16 = read("librispeech_dev_clean/3752-4944-0000.flac")
    sf.write(out / "en16k.wav", a, sr16, subtype="PCM_16")
    refs["en16k"] = dict(file="refs/en16k.wav", text="CAPTAIN FRERE SAYS THAT THE SCENERY IS DELIGHTFUL",
                         source="librispeech_dev_clean/3752-4944-0000.flac (decoded to WAV)")
    # Quiet: scaled to RMS 0.02 so F5's loudness rule (rms < 0.1) acts.
    b, _ = read("librispeech_dev_clean/3752-4944-0002.flac")
    bf = b.astype(np.float64) / 32768
    sf.write(out / "quiet16k.wav", _pcm16(bf * 0.02 / np.sqrt(np.mean(bf ** 2))), sr16, subtype="PCM_16")
    refs["quiet16k"] = dict(file="refs/quiet16k.wav", text="IN THE VALLEY OF THE SHADOW OF DEATH HE IS WITH US",
                            source="librispeech_dev_clean/3752-4944-0002.flac scaled to RMS 0.02")
    # 0.5 s of near-silence (white noise, RMS 3e-4, about -70 dBFS) before and after.
    c, _ = read("librispeech_dev_clean/1988-24833-0000.flac")
    pad = lambda n: _pcm16(rng.standard_normal(n) * 3e-4)  # noqa: E731
    sf.write(out / "padded16k.wav", np.concatenate([pad(8000), c, pad(8000)]), sr16, subtype="PCM_16")
    refs["padded16k"] = dict(file="refs/padded16k.wav",
                             text="THE TWO STRAY KITTENS GRADUALLY MAKE THEMSELVES AT HOME",
                             source="librispeech_dev_clean/1988-24833-0000.flac with 0.5 s noise floor each side")
    # Over 12 s: A, 1.2 s gap, B, 1.2 s gap, A again; F5 keeps A + B (clipping rule 1). The text is A + B's.
    gap = pad(19200)
    sf.write(out / "long16k.wav", np.concatenate([a, gap, b, gap, a]), sr16, subtype="PCM_16")
    refs["long16k"] = dict(
        file="refs/long16k.wav",
        text="CAPTAIN FRERE SAYS THAT THE SCENERY IS DELIGHTFUL IN THE VALLEY OF THE SHADOW OF DEATH HE IS WITH US",
        source="3752-4944-0000 + 1.2 s noise floor + 3752-4944-0002 + 1.2 s noise floor + 3752-4944-0000 "
               "(librispeech_dev_clean)")
    return refs


# ------------------------------------------------------------------------------------------- recording


class Recorder:
    """Collects what F5's functions see and return during one F5TTS.infer call (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.preprocess = None
        self.chunk_text = []
        self.pinyin = {}
        self.samples = []
        self.splits = []
        self.leading = []


REC = Recorder()

_orig_preprocess = f5_infer.preprocess_ref_audio_text
_orig_chunk_text = f5_infer.chunk_text
_orig_pinyin = f5_infer.convert_char_to_pinyin
_orig_split = pydub.silence.split_on_silence
_orig_leading = pydub.silence.detect_leading_silence
_orig_odeint = f5_cfm.odeint


def _preprocess(ref_audio_orig, ref_text, show_info=print):
    path, text = _orig_preprocess(ref_audio_orig, ref_text, show_info=show_info)
    REC.preprocess = dict(in_text=ref_text, path=path, text=text)
    return path, text


def _chunk_text(text, max_chars=135):
    chunks = _orig_chunk_text(text, max_chars=max_chars)
    REC.chunk_text.append(dict(text=text, max_chars=max_chars, chunks=list(chunks)))
    return chunks


def _pinyin(text_list, polyphone=True):
    out = _orig_pinyin(text_list, polyphone=polyphone)
    with REC.lock:
        REC.pinyin[text_list[0]] = list(out[0])
    return out


def _split(audio_segment, min_silence_len=1000, silence_thresh=-16, keep_silence=100, seek_step=1):
    segs = _orig_split(audio_segment, min_silence_len, silence_thresh, keep_silence, seek_step)
    nonsilent = pydub.silence.detect_nonsilent(audio_segment, min_silence_len, silence_thresh, seek_step)
    REC.splits.append(dict(min_silence_len=min_silence_len, silence_thresh=silence_thresh,
                           keep_silence=keep_silence, seek_step=seek_step, input_ms=len(audio_segment),
                           frame_rate=audio_segment.frame_rate, nonsilent_ms=[list(r) for r in nonsilent],
                           segment_ms=[len(s) for s in segs]))
    return segs


def _leading(sound, silence_threshold=-50.0, chunk_size=10):
    ms = _orig_leading(sound, silence_threshold=silence_threshold, chunk_size=chunk_size)
    REC.leading.append(dict(input_ms=len(sound), silence_threshold=silence_threshold, chunk_size=chunk_size,
                            result_ms=ms))
    return ms


_tls = threading.local()


def _odeint(func, y0, t, **kwargs):
    _tls.t_grid = t.detach().clone()
    return _orig_odeint(func, y0, t, **kwargs)


f5_api.preprocess_ref_audio_text = _preprocess
f5_infer.chunk_text = _chunk_text
f5_infer.convert_char_to_pinyin = _pinyin
pydub.silence.split_on_silence = _split
pydub.silence.detect_leading_silence = _leading
f5_cfm.odeint = _odeint


def instrument(tts) -> None:
    """Wrap this F5TTS object's CFM.sample and vocoder.decode (instance attributes; the classes are untouched)."""
    model, vocoder = tts.ema_model, tts.vocoder
    orig_sample, orig_decode = model.sample, vocoder.decode

    def sample(cond, text, duration, **kwargs):
        out, trajectory = orig_sample(cond, text, duration, **kwargs)
        cond_mel = model.mel_spec(cond).permute(0, 2, 1)  # (1, frames, 100), no randomness
        rec = dict(cond=cond.detach().clone(), text=[list(t) for t in text], duration_arg=int(duration),
                   kwargs=dict(kwargs), cond_mel=cond_mel, y0=trajectory[0].clone(), out=out.detach().clone(),
                   t_grid=_tls.t_grid, thread=threading.get_ident(),
                   token_ids=list_str_to_idx(text, model.vocab_char_map))
        _tls.current = rec
        with REC.lock:
            REC.samples.append(rec)
        return out, trajectory

    def decode(features, **kwargs):
        wave = orig_decode(features, **kwargs)
        _tls.current["vocoder_frames"] = features.shape[-1]
        _tls.current["decoded"] = wave.detach().clone()  # before F5's loudness undo
        return wave

    model.sample = sample
    vocoder.decode = decode


# --------------------------------------------------------------------------------------------- helpers


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def pydub_pad_samples(sr: int) -> int:
    """Samples of F5's 50 ms appended silence at rate sr (pydub's 11025 Hz silence after _sync)."""
    return len(AudioSegment.silent(duration=50).set_frame_rate(sr).raw_data) // 2


def as_source_slices(x: np.ndarray, src: np.ndarray) -> list[tuple[int, int]] | None:
    """x (T, C) int16 as consecutive slices of src, left to right (None if it is not one)."""
    slices, p, last = [], 0, 0
    while p < len(x):
        cand = np.flatnonzero(np.all(src[last:] == x[p], axis=1)) + last
        best = None
        for a in cand:
            n = min(len(src) - a, len(x) - p)
            diff = np.flatnonzero(np.any(src[a:a + n] != x[p:p + n], axis=1))
            m = int(diff[0]) if len(diff) else n
            if best is None or m > best[1]:
                best = (int(a), m)
            if m == len(x) - p:
                break
        if best is None or best[1] < 16:
            return None
        slices.append((best[0], best[0] + best[1]))
        p, last = p + best[1], best[0] + best[1]
    return slices


def describe_processed(path: str, source: Path) -> dict:
    """The temp WAV F5 wrote, as slices of the source file + zeros (checked exact), else its PCM in full."""
    info = sf.info(path)
    x, sr = sf.read(path, dtype="int16", always_2d=True)
    src, ssr = sf.read(source, dtype="int16", always_2d=True)
    d = dict(sample_rate=sr, channels=info.channels, subtype=info.subtype, num_samples=len(x),
             md5_pcm=md5(x.tobytes()))
    pad = pydub_pad_samples(sr)
    if ssr == sr and not x[-pad:].any():
        slices = as_source_slices(x[:-pad], src)
        if slices is not None:
            rebuilt = np.concatenate([src[a:b] for a, b in slices] + [np.zeros((pad, x.shape[1]), np.int16)])
            assert np.array_equal(rebuilt, x)
            d.update(source_slices=slices, pad_zeros=pad)
            return d
    d["pcm"] = torch.from_numpy(x.copy())
    return d


def load_f5_audio(path: str) -> torch.Tensor:
    audio, sr = torchaudio.load(path)
    if audio.shape[0] > 1:
        audio = torch.mean(audio, dim=0, keepdim=True)
    return audio, sr


# ---------------------------------------------------------------------------------------- formats.pt


def run_formats(models_dir: Path, vocab: list[str], ext_vocab: list[str]) -> dict:
    """Load each release file with F5's load_model (as F5TTS does) and record velocity and sampling."""
    g = torch.Generator().manual_seed(7)
    n, p, dur = 32, 16, 40
    x = torch.randn(1, n, 100, generator=g)
    cond = torch.randn(1, n, 100, generator=g) * 2 - 5
    cond[:, n // 2:] = 0
    text = torch.randint(0, len(vocab), (1, 20), generator=g)
    text_ext = text.clone()
    text_ext[0, 3:3 + len(EXTRA_TOKENS)] = torch.arange(len(vocab), len(vocab) + len(EXTRA_TOKENS))
    time = torch.tensor(0.37)
    prompt = torch.randn(1, p, 100, generator=g) * 2 - 5
    s_text = torch.randint(0, len(vocab), (1, 24), generator=g)
    s_text_ext = s_text.clone()
    s_text_ext[0, 5:5 + len(EXTRA_TOKENS)] = torch.arange(len(vocab), len(vocab) + len(EXTRA_TOKENS))
    seed = 4321

    fmts = [
        ("v1_release", "F5TTS_v1_Base", "F5TTS_v1_Base/model_1250000.safetensors", True, False),
        ("v0_release", "F5TTS_Base", "F5TTS_Base/model_1200000.safetensors", True, False),
        ("e2_release", "E2TTS_Base", "E2TTS_Base/model_1200000.safetensors", True, False),
        ("small_trainer_last_ema", "F5TTS_v1_Small", "F5TTS_v1_Small_train/model_last.pt", True, False),
        ("small_trainer_last_online", "F5TTS_v1_Small", "F5TTS_v1_Small_train/model_last.pt", False, False),
        ("small_pruned", "F5TTS_v1_Small", "F5TTS_v1_Small_pruned/model_500_pruned.pt", True, False),
        ("v1_fp16", "F5TTS_v1_Base", "F5TTS_v1_Base_fp16/model_1250000.safetensors", True, False),
        ("v1_extended", "F5TTS_v1_Base", "F5TTS_v1_Base_extended/pretrained_model_1250000.safetensors", True,
         True),
    ]
    results = {}
    y0_ref = None
    for key, arch_name, rel, use_ema, ext in fmts:
        backbone, arch = ARCHS[arch_name]
        ckpt = models_dir / rel
        vocab_file = ckpt.parent / "vocab.txt"
        model = f5_infer.load_model(BACKBONES[backbone], arch, str(ckpt), "vocos", str(vocab_file), "euler",
                                    use_ema, "cpu")
        assert next(model.parameters()).dtype == torch.float32
        # load_model returns the model in training mode (dropout 0.1 active); CFM.sample calls self.eval()
        # first (cfm.py line 103), so velocities are taken in eval mode too.
        model.eval()
        t_in, s_in = (text_ext, s_text_ext) if ext else (text, s_text)
        velocity = {}
        with torch.inference_mode():
            for name, da, dt in [("cond", False, False), ("uncond", True, True)]:
                velocity[name] = model.transformer(x=x, cond=cond, text=t_in, time=time, mask=None,
                                                   drop_audio_cond=da, drop_text=dt, cache=False).clone()
            packed = model.transformer(x=x, cond=cond, text=t_in, time=time, mask=None, cfg_infer=True,
                                       cache=True)
            model.transformer.clear_cache()
        ref = torch.cat([velocity["cond"], velocity["uncond"]])
        assert torch.allclose(packed, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))
        samples = {}
        for skey, steps, epss in [("steps=7,epss=True", 7, True), ("steps=8,epss=False", 8, False)]:
            out, traj = model.sample(cond=prompt, text=s_in, duration=dur, steps=steps, cfg_strength=2.0,
                                     sway_sampling_coef=-1.0, seed=seed, use_epss=epss)
            samples[skey] = dict(output=out.clone(), t_grid=_tls.t_grid)
            if y0_ref is None:
                y0_ref = traj[0].clone()
            assert torch.equal(traj[0], y0_ref)
        results[key] = dict(checkpoint=f"models/{rel}", vocab=f"models/{Path(rel).parent}/vocab.txt",
                            backbone=backbone, arch=dict(arch), use_ema=use_ema,
                            text_num_embeds=len(ext_vocab if ext else vocab),
                            uses_extended_tokens=ext, velocity=velocity, sample=samples)
        out7 = samples["steps=7,epss=True"]["output"]
        print(f"format {key}: |v|={velocity['cond'].abs().mean():.3f} |x|={out7.abs().mean():.3f}")
    return dict(
        f5_tts_version=F5_VERSION,
        inputs=dict(x=x, cond=cond, text=text, text_extended=text_ext, time=time,
                    sample_prompt=prompt, sample_text=s_text, sample_text_extended=s_text_ext,
                    sample_duration=dur, sample_seed=seed, sample_cfg_strength=2.0, sample_sway=-1.0,
                    sample_noise=y0_ref),
        formats=results,
    )


# --------------------------------------------------------------------------------------- pipeline.pt

LONG_TEXT = (
    "The morning was cold and grey, and the harbour lay quiet under a thin mist. "
    "Fishermen walked slowly along the stone quay, carrying nets and baskets to their boats. "
    "Nobody spoke much; the wind off the water was sharp enough to make every word an effort. "
    "By the time the sun broke through, most of the small fleet had already left for the open sea. "
    "Only old Thomas remained, mending a torn sail with patient hands. "
    "He had seen a thousand mornings like this one, and he was in no hurry at all. "
    "When the tide turned at noon, he finally pushed off and followed the others."
)


def case_list(refs):
    """(name, model, ref, call kwargs, debug level). debug: 'full' stores every intermediate tensor."""
    r = lambda k: (refs[k]["file"], refs[k]["text"])  # noqa: E731
    base = dict(cfg_strength=2.0, sway_sampling_coef=-1.0, speed=1.0, fix_duration=None, remove_silence=False,
                target_rms=0.1, cross_fade_duration=0.15)
    cases = [
        ("en24k_nfe32", "v1", "en24k", dict(gen_text="A quick brown fox jumps.", seed=11, nfe_step=32), None),
        ("en16k_nfe7", "v1", "en16k", dict(gen_text="Birds sing at dawn.", seed=12, nfe_step=7), "full"),
        ("quiet_nfe8", "v1", "quiet16k", dict(gen_text="It is very quiet here.", seed=13, nfe_step=8), None),
        ("padded_nfe16", "v1", "padded16k", dict(gen_text="Silence is golden.", seed=14, nfe_step=16), None),
        ("short_text", "v1", "en24k", dict(gen_text="Hi there", seed=15, nfe_step=8), None),
        ("chinese", "v1", "en24k", dict(gen_text=CHINESE, seed=16, nfe_step=7), None),
        ("hyphen", "v1", "en24k", dict(gen_text="a well-known 2024-05-01 event;  x.Yz é",
                                       seed=17, nfe_step=7), None),
        ("speed0.8", "v1", "en16k", dict(gen_text="Slow and steady.", seed=18, nfe_step=8, speed=0.8), None),
        ("speed1.3", "v1", "en24k", dict(gen_text="Fast and clear speech.", seed=19, nfe_step=7, speed=1.3), None),
        ("fix_duration", "v1", "en24k", dict(gen_text="Exactly four seconds.", seed=20, nfe_step=7,
                                             fix_duration=4.0), None),
        ("long_ref", "v1", "long16k", dict(gen_text="Long reference.", seed=21, nfe_step=7), None),
        ("v0_model", "v0", "en24k", dict(gen_text="The old model speaks.", seed=22, nfe_step=7), None),
        ("cfg0_sway0", "v1", "en16k", dict(gen_text="No guidance here.", seed=23, nfe_step=8, cfg_strength=0.0,
                                           sway_sampling_coef=0.0), None),
        ("remove_silence", "v1", "en24k", dict(gen_text="A quick brown fox jumps.", seed=11, nfe_step=32,
                                               remove_silence=True), None),
        ("multi_chunk", "v1", "en24k", dict(gen_text=LONG_TEXT, seed=24, nfe_step=7), "windows"),
        ("multi_chunk_fix_duration", "v1", "en24k", dict(gen_text=LONG_TEXT, seed=25, nfe_step=7,
                                                         fix_duration=4.1), None),
    ]
    out = []
    for name, model, ref, kw, debug in cases:
        ref_file, ref_text = r(ref)
        call = dict(ref_file=ref_file, ref_text=ref_text, **{**base, **kw})
        out.append(dict(name=name, model=model, ref=ref, call=call, debug=debug))
    return out


def run_case(tts, case, tmp: Path) -> dict:
    call = case["call"]
    REC.reset()
    file_wave = str(tmp / f"{case['name']}.wav") if call["remove_silence"] else None
    kwargs = {k: v for k, v in call.items() if k not in ("ref_file",)}
    wav, sr, spec = tts.infer(ref_file=str(HERE / call["ref_file"]), file_wave=file_wave, **kwargs)
    res = dict(name=case["name"], model=case["model"], call=dict(call, file_wave=file_wave is not None),
               sr=sr, wav_dtype=str(wav.dtype), wav_len=len(wav), spec_shape=tuple(spec.shape))

    # Reference preprocessing.
    pre = REC.preprocess
    res["preprocess"] = dict(ref_text_out=pre["text"],
                             ref_audio=describe_processed(pre["path"], HERE / call["ref_file"]),
                             split_on_silence=REC.splits, detect_leading_silence=REC.leading)
    audio, file_sr = load_f5_audio(pre["path"])
    rms = torch.sqrt(torch.mean(torch.square(audio)))
    res["rms"] = float(rms)
    res["rms_scaled"] = bool(rms < call["target_rms"])
    res["ref_text_model"] = pre["text"] + " " if len(pre["text"][-1].encode("utf-8")) == 1 else pre["text"]
    assert len(REC.chunk_text) == 1
    res["max_chars"] = REC.chunk_text[0]["max_chars"]
    chunks = REC.chunk_text[0]["chunks"]
    res["chunks"] = chunks

    # Per chunk, in chunk order (samples are recorded in thread order; match by text).
    by_text = {}
    for s in REC.samples:
        gen = s["text"][0]
        by_text.setdefault("".join(gen), []).append(s)
    per_chunk = []
    for chunk in chunks:
        full = res["ref_text_model"] + chunk
        tokens = REC.pinyin[full]
        s = by_text["".join(tokens)].pop(0)
        cond = s["cond"]
        ref_audio_len = cond.shape[-1] // 256
        duration = s["out"].shape[1]
        per_chunk.append(dict(
            text=chunk, local_speed=0.3 if len(chunk.encode("utf-8")) < 10 else call["speed"],
            tokens=tokens, token_ids=s["token_ids"], cond_samples=cond.shape[-1], ref_audio_len=ref_audio_len,
            cond_frames=s["cond_mel"].shape[1], duration_arg=s["duration_arg"], duration=duration,
            sample_kwargs=s["kwargs"], t_grid=s["t_grid"], vocoder_frames=duration - ref_audio_len,
            wave_len=(duration - ref_audio_len - 1) * 256, _s=s))
    res["per_chunk"] = per_chunk

    if len(chunks) == 1:
        c = per_chunk[0]
        s = c.pop("_s")
        # The noise is torch.manual_seed(seed); torch.randn(duration, 100): check it.
        torch.manual_seed(call["seed"])
        expect = torch.randn(c["duration"], 100)
        res["noise_is_manual_seed_randn"] = bool(torch.equal(s["y0"][0], expect))
        assert res["noise_is_manual_seed_randn"], case["name"]
        assert c["wave_len"] == len(wav)
        if case["debug"] == "full":
            # The cond waveform (after loudness scaling and resampling): its first second and last 0.2 s.
            res["cond_wave_head"] = s["cond"][:, :24000].clone()
            res["cond_wave_tail"] = s["cond"][:, -4800:].clone()
            res["cond_mel"] = s["cond_mel"]  # (1, T24 // 256 + 1, 100)
            res["sampled_mel"] = s["out"]  # (1, duration, 100); the vocoder gets [:, ref_audio_len:]
        if case["name"] == "remove_silence":
            res["wav_same_as"] = "en24k_nfe32"  # checked in run_pipeline; not stored twice
            res["_wav"] = torch.from_numpy(np.asarray(wav, dtype=np.float32).copy())
        else:
            res["wav"] = torch.from_numpy(np.asarray(wav, dtype=np.float32).copy())
    else:
        samples = [c.pop("_s") for c in per_chunk]
        durations = [c["duration"] for c in per_chunk]
        orders = []
        for perm in itertools.permutations(range(len(chunks))):
            torch.manual_seed(call["seed"])
            draws = {i: torch.randn(durations[i], 100) for i in perm}
            if all(torch.equal(samples[i]["y0"][0], draws[i]) for i in perm):
                orders.append(list(perm))
        res["noise_draw_order"] = orders[0] if orders else None
        res["cross_fade_samples"] = n = int(call["cross_fade_duration"] * 24000)
        lens = [c["wave_len"] for c in per_chunk]
        assert len(wav) == sum(lens) - n * (len(chunks) - 1)
        # Each chunk's wave as F5 has it before joining (utils_infer 526-530), and a check that NOTES.md §8's
        # join reproduces F5's result exactly.
        waves = []
        for smp in samples:
            g = smp["decoded"]
            if rms < call["target_rms"]:
                g = g * rms / call["target_rms"]
            waves.append(g.squeeze().cpu().numpy())
        joined = waves[0]
        for nxt in waves[1:]:
            k = min(n, len(joined), len(nxt))
            joined = np.concatenate([joined[:-k], joined[-k:] * np.linspace(1, 0, k) + nxt[:k] * np.linspace(0, 1, k),
                                     nxt[k:]])
        assert joined.dtype == wav.dtype and np.array_equal(joined, wav)
        # With the final wave, these overlaps give back every chunk's wave exactly.
        res["join_overlaps"] = [dict(prev_tail=torch.from_numpy(waves[i][-n:].copy()),
                                     next_head=torch.from_numpy(waves[i + 1][:n].copy()))
                                for i in range(len(waves) - 1)]
        if case["debug"] == "windows":
            w = np.asarray(wav)
            windows = {"start": (0, w[:2400])}
            pos = 0
            for i, m in enumerate(lens[:-1]):
                pos += m - n  # start of join i in the output
                a, b = pos - 1200, pos + n + 1200
                windows[f"join{i}"] = (a, w[a:b])
            windows["end"] = (len(w) - 2400, w[-2400:])
            res["wav_windows"] = {k: dict(start=int(a), samples=torch.from_numpy(v.astype(np.float32).copy()))
                                  for k, (a, v) in windows.items()}
            res["wav_rms"] = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
        else:
            res["wav"] = torch.from_numpy(np.asarray(wav, dtype=np.float32).copy())

    if call["remove_silence"]:
        x, fsr = sf.read(file_wave, dtype="int16")
        res["written_file"] = dict(sample_rate=fsr, subtype=sf.info(file_wave).subtype, num_samples=len(x),
                                   pcm=torch.from_numpy(x.copy()), md5_pcm=md5(x.tobytes()))
    return res


EPSS = {5: [0, 2, 4, 8, 16, 32], 6: [0, 2, 4, 6, 8, 16, 32], 7: [0, 2, 4, 6, 8, 16, 24, 32],
        10: [0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32], 12: [0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32],
        16: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32]}


def check_notes(res: dict) -> None:
    """Recompute a case's numbers with NOTES.md's formulas (§2.1-§8) and assert they are F5's."""
    call, ra = res["call"], res["preprocess"]["ref_audio"]
    sr, t = ra["sample_rate"], ra["num_samples"]
    src, _ = sf.read(HERE / call["ref_file"], dtype="int16", always_2d=True)
    pcm = np.concatenate([src[a:b] for a, b in ra["source_slices"]] + [np.zeros((ra["pad_zeros"], 1), np.int16)])
    assert len(pcm) == t and ra["pad_zeros"] == {24000: 1198, 16000: 799}[sr]
    text = call["ref_text"]
    text = text if text.endswith((". ", "。")) else text + (" " if text.endswith(".") else ". ")
    assert res["preprocess"]["ref_text_out"] == text and res["ref_text_model"] == text + " "
    assert res["max_chars"] == int(len(text.encode()) / (t / sr) * (22 - t / sr) * call["speed"])
    audio = torch.from_numpy(pcm.T.astype(np.float32) / 32768)
    rms = torch.sqrt(torch.mean(torch.square(audio)))
    if rms < call["target_rms"]:
        audio = audio * call["target_rms"] / rms
    if sr != 24000:
        audio = torchaudio.transforms.Resample(sr, 24000)(audio)
    t24 = audio.shape[-1]
    assert t24 == math.ceil(t * 24000 / sr)
    if "cond_wave_head" in res:
        assert torch.equal(res["cond_wave_head"], audio[:, :24000]) and torch.equal(res["cond_wave_tail"],
                                                                                   audio[:, -4800:])
        mel = torchaudio.transforms.MelSpectrogram(sample_rate=24000, n_fft=1024, win_length=1024, hop_length=256,
                                                   n_mels=100, power=1, center=True, normalized=False, norm=None)
        assert torch.equal(res["cond_mel"], mel(audio).clamp(min=1e-5).log().permute(0, 2, 1))
    weights = [len(c["text"].encode()) for c in res["per_chunk"]]
    ref_sec = (t24 // 256) * 256 / 24000
    for c, w in zip(res["per_chunk"], weights):
        assert c["cond_samples"] == t24 and c["ref_audio_len"] == t24 // 256 and c["cond_frames"] == t24 // 256 + 1
        if call["fix_duration"] is None:
            expect = t24 // 256 + int((t24 // 256) / len(res["ref_text_model"].encode()) * w / c["local_speed"])
        elif len(weights) == 1:
            expect = int(call["fix_duration"] * 24000 / 256)
        else:
            alloc = call["fix_duration"] - ref_sec + call["cross_fade_duration"] * (len(weights) - 1)
            expect = int((ref_sec + alloc * w / sum(weights)) * 24000 / 256)
        assert c["duration_arg"] == expect
        assert c["duration"] == max(max(c["token_ids"].shape[1], c["cond_frames"]) + 1, c["duration_arg"])
        n = call["nfe_step"]
        grid = torch.tensor(EPSS[n], dtype=torch.float32) / 32 if n in EPSS else torch.linspace(0, 1, n + 1)
        sway = call["sway_sampling_coef"]
        grid = grid + sway * (torch.cos(torch.pi / 2 * grid) - 1 + grid)
        assert torch.equal(grid, c["t_grid"])
        assert c["wave_len"] == (c["duration"] - t24 // 256 - 1) * 256


def run_pipeline(models_dir: Path, vocab_dir: Path, refs: dict) -> dict:
    configs_dir = Path(files("f5_tts").joinpath("configs"))
    ttss = {}
    for key, name, rel in [("v1", "F5TTS_v1_Base", "F5TTS_v1_Base/model_1250000.safetensors"),
                           ("v0", "F5TTS_Base", "F5TTS_Base/model_1200000.safetensors")]:
        backbone, arch = ARCHS[name]
        cfg = write_config(f"{name}_tiny", backbone, arch)
        model_arg = os.path.relpath(cfg.with_suffix(""), configs_dir)
        tts = f5_api.F5TTS(model=model_arg, ckpt_file=str(models_dir / rel),
                           vocab_file=str((models_dir / rel).parent / "vocab.txt"),
                           vocoder_local_path=str(HERE / "vocos"), device="cpu")
        instrument(tts)
        ttss[key] = (tts, dict(config=f"configs/{cfg.name}", checkpoint=f"models/{rel}",
                               vocab=f"models/{Path(rel).parent}/vocab.txt", vocos="vocos", backbone=backbone,
                               arch=dict(arch), model_arg_used=model_arg))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in case_list(refs):
            tts, _ = ttss[case["model"]]
            res = run_case(tts, case, Path(tmp))
            if len(res["chunks"]) > 1:
                # The chunks' threads race for the global RNG. Keep the run in which they drew their noise in
                # chunk order (the order a sequential implementation uses); record what the other runs did.
                seen = [res["noise_draw_order"]]
                while res["noise_draw_order"] != list(range(len(res["chunks"]))) and len(seen) < 40:
                    res = run_case(tts, case, Path(tmp))
                    seen.append(res["noise_draw_order"])
                assert res["noise_draw_order"] == list(range(len(res["chunks"]))), seen
                res["noise_draw_orders_seen"] = seen
            print(f"case {res['name']}: chunks={len(res['chunks'])} len={res['wav_len']} "
                  f"durations={[c['duration'] for c in res['per_chunk']]} rms_scaled={res['rms_scaled']}")
            check_notes(res)
            results.append(res)
    by_name = {r["name"]: r for r in results}
    # remove_silence only touches the written file: the returned array equals the same call without it.
    assert torch.equal(by_name["remove_silence"].pop("_wav"), by_name["en24k_nfe32"]["wav"])
    return dict(f5_tts_version=F5_VERSION, models={k: v for k, (_, v) in ttss.items()}, refs=refs,
                cases=results)


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    torch.manual_seed(0)
    models_dir = HERE / "models"
    if models_dir.exists():
        shutil.rmtree(models_dir)
    vocab = tiny_vocab()
    ext_vocab = extend_vocab(vocab, EXTRA_TOKENS)
    assert ext_vocab == vocab + EXTRA_TOKENS

    # Release safetensors (EMA state dict with ema_model. prefix, initted, step).
    v1 = build_cfm("F5TTS_v1_Base", len(vocab), seed=101)
    for folder, model, step, fname in [
        ("F5TTS_v1_Base", v1, 1250000, "model_1250000.safetensors"),
        ("F5TTS_Base", build_cfm("F5TTS_Base", len(vocab), seed=102), 1200000, "model_1200000.safetensors"),
        ("E2TTS_Base", build_cfm("E2TTS_Base", len(vocab), seed=103), 1200000, "model_1200000.safetensors"),
    ]:
        write_vocab(models_dir / folder / "vocab.txt", vocab)
        save_file(ema_state_dict(model, step), str(models_dir / folder / fname))

    # float16 copy of the v1 release: every floating tensor (rotary inv_freq included) stored as half.
    sd = load_file(str(models_dir / "F5TTS_v1_Base/model_1250000.safetensors"))
    assert "ema_model.transformer.rotary_embed.inv_freq" in sd
    write_vocab(models_dir / "F5TTS_v1_Base_fp16/vocab.txt", vocab)
    save_file({k: v.half() if v.is_floating_point() else v for k, v in sd.items()},
              str(models_dir / "F5TTS_v1_Base_fp16/model_1250000.safetensors"))

    # Extended vocabulary: F5's expand_model_embeddings on the v1 release, as vocab_extend names it.
    write_vocab(models_dir / "F5TTS_v1_Base_extended/vocab.txt", ext_vocab)
    n_new = expand_model_embeddings(str(models_dir / "F5TTS_v1_Base/model_1250000.safetensors"),
                                    str(models_dir / "F5TTS_v1_Base_extended/pretrained_model_1250000.safetensors"),
                                    num_new_tokens=len(EXTRA_TOKENS))
    assert n_new == len(ext_vocab) + 1

    # Trainer folder: model_last.pt (the one F5 resumes from), model_500.pt and pretrained_*.safetensors with
    # different weights.
    tdir = models_dir / "F5TTS_v1_Small_train"
    write_vocab(tdir / "vocab.txt", vocab)
    small = lambda s: build_cfm("F5TTS_v1_Small", len(vocab), seed=s)  # noqa: E731
    torch.save(trainer_checkpoint(small(201), small(202), update=1000, seed=301), tdir / "model_last.pt")
    torch.save(trainer_checkpoint(small(203), small(204), update=500, seed=302), tdir / "model_500.pt")
    save_file(ema_state_dict(small(205), 1250000), str(tdir / "pretrained_model_1250000.safetensors"))

    # Pruned .pt (F5's prune_checkpoint, EMA only) of model_500.pt.
    pdir = models_dir / "F5TTS_v1_Small_pruned"
    write_vocab(pdir / "vocab.txt", vocab)
    msg = prune_checkpoint(str(tdir / "model_500.pt"), str(pdir / "model_500_pruned.pt"), save_ema=True,
                           safetensors=False)
    assert msg.startswith("New checkpoint saved"), msg
    assert list(torch.load(pdir / "model_500_pruned.pt", weights_only=True)) == ["ema_model_state_dict"]

    write_vocos(HERE / "vocos", seed=401)
    # F5's load_vocoder is what the pipeline uses; check that the folder also loads the plain vocos way.
    voc = Vocos.from_hparams(str(HERE / "vocos/config.yaml"))
    voc.load_state_dict(torch.load(HERE / "vocos/pytorch_model.bin", weights_only=True))

    formats = run_formats(models_dir, vocab, ext_vocab)
    torch.save(formats, HERE / "formats.pt")

    refs = make_refs()
    pipeline = run_pipeline(models_dir, HERE, refs)
    torch.save(pipeline, HERE / "pipeline.pt")

    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"done: {total / 1e6:.2f} MB in {HERE}")


if __name__ == "__main__":
    main()
