"""Saved voices: a name → a reference clip, its transcript, and its latent as prepared for each model and codec
it has been used with. Stored under `$CUBETTS_HOME/voices` (default: the user's data folder, e.g.
`~/.local/share/cubetts/voices`), one folder per voice:

    <name>/voice.json                      {"name", "transcript", "sample_rate", "source", "created"}
    <name>/clip.wav                        the clip as given, resampled to the codec's rate (16-bit)
    <name>/prepared/<identity>.safetensors the prepared reference for one model + codec (`identity`)

A voice is written into a temporary folder and renamed into place, so a process that dies while saving
leaves the old voice or the new one, never half of one. A prepared reference is keyed by the identity of
the model config and the codec's weights: under another model or codec the voice is prepared anew from its
clip (and that is kept too), never used with latents that mean something else.

The built-in voice `default` is LJSpeech's speaker reading LJ001-0004 (public domain: Keith Ito and Linda
Johnson, https://keithito.com/LJ-Speech-Dataset/), shipped in `app/assets/`.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from codec.audio import AudioError, load_audio, save_audio
from codec.checkpoint import atomic_write
from tts import Synthesizer, TextError
from tts.rules import Reference

from .speech import InputError, Upload, checked_upload

logger = logging.getLogger(__name__)

NAME_RULE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
NAME_HELP = "1 to 40 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit"
DIALOGUE = "dialogue"  # the API's `voice` for a script with speaker tags (app/dialogue.py): no voice's name
BUILTIN_CLIP = Path(__file__).parent / "assets" / "LJ001-0004.flac"
BUILTIN_TRANSCRIPT = "produced the block books, which were the immediate predecessors of the true printed book,"
BUILTIN = "default"
STALE_SECONDS = 3600  # a temporary folder this old was left by a process that died while saving
RECOVER_SECONDS = 60  # a replaced voice's old folder this old, with no new one, is from a replacement that died


class UnknownVoice(InputError):
    """A voice name that is not saved; `names` are the ones that are."""

    def __init__(self, name: str, names: list[str]):
        super().__init__(f"no voice named {name!r}; the voices are: {', '.join(names)}", "voice")
        self.names = names


@dataclass(frozen=True)
class Voice:
    """A saved voice: its clip (a file at `sample_rate`) and transcript; `folder` is None for the built-in one."""

    name: str
    clip: Path
    transcript: str
    folder: Path | None


def default_root() -> Path:
    """`$CUBETTS_HOME/voices`, else the user's data folder's `cubetts/voices`."""
    home = os.environ.get("CUBETTS_HOME")
    if home:
        return Path(home).expanduser() / "voices"
    import platformdirs

    return Path(platformdirs.user_data_dir("cubetts", appauthor=False)) / "voices"


def checked_name(name: object) -> str:
    """A voice name as stored (lower case), or InputError saying what a name may hold."""
    if not isinstance(name, str):
        raise InputError(f"a voice name must be a string ({NAME_HELP})", "name")
    text = name.strip().lower()
    if not text:
        raise InputError(f"the voice name is empty; a name is {NAME_HELP}", "name")
    if not NAME_RULE.fullmatch(text):
        raise InputError(f"{name!r} cannot be a voice name; a name is {NAME_HELP}", "name")
    if text in (BUILTIN, DIALOGUE):
        meaning = "the built-in voice" if text == BUILTIN else "the API's voice for a script with speaker tags"
        raise InputError(f"{text!r} is reserved ({meaning}); choose another name", "name")
    return text


class VoiceStore:
    """The voices saved under `root` (`default_root()` unless given), plus the built-in one."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._identities: weakref.WeakKeyDictionary[Synthesizer, str] = weakref.WeakKeyDictionary()

    def names(self) -> list[str]:
        """Every voice name: the built-in one first, then the saved ones in order."""
        saved = sorted(p.name for p in self.root.glob("*") if NAME_RULE.fullmatch(p.name)
                       and (p / "voice.json").is_file()) if self.root.is_dir() else []
        return [BUILTIN, *saved]

    def get(self, name: object) -> Voice:
        """The voice called `name` (any case), or UnknownVoice listing the voices there are."""
        if not isinstance(name, str):
            raise InputError(f"voice must be a voice's name (a string), got {type(name).__name__}", "voice")
        key = name.strip().lower()
        if key == BUILTIN:
            return Voice(BUILTIN, BUILTIN_CLIP, BUILTIN_TRANSCRIPT, None)
        folder = self.root / key
        if not NAME_RULE.fullmatch(key) or not (folder / "voice.json").is_file():
            raise UnknownVoice(name, self.names())
        record = json.loads((folder / "voice.json").read_text(encoding="utf-8"))
        return Voice(key, folder / "clip.wav", record["transcript"], folder)

    def add(self, name: object, clip: object, transcript: object, synthesizer: Synthesizer,
            force: bool = False) -> Voice:
        """Save `clip` (an audio file) as `name`, with its transcript (None or empty: the ASR writes it). The
        clip is checked and prepared first, so a voice that is saved can be used; `force` replaces a voice of
        that name. Raises InputError (bad name, duplicate, bad clip or transcript)."""
        key, upload = self.check_new(name, clip, transcript, force)
        try:
            wav, sr = load_audio(upload.path, synthesizer.sample_rate)
            text = upload.transcript or synthesizer.transcriber(wav, sr).strip()
            reference = synthesizer.prepare_reference(wav, sr, text, synthesizer.options)
        except (AudioError, TextError) as err:
            message = str(err).replace(str(upload.path), upload.path.name).replace("ref_text", "the transcript")
            raise InputError(message, "reference") from None
        self.root.mkdir(parents=True, exist_ok=True)
        self._recover()
        staging = self.root / f".tmp-{key}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            save_audio(staging / "clip.wav", wav, sr)
            record = {"name": key, "transcript": text, "sample_rate": sr, "source": upload.path.name,
                      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
            atomic_write(staging / "voice.json", json.dumps(record, indent=2, ensure_ascii=False).encode())
            self._save_prepared(staging, self.identity(synthesizer), reference)
            self._move_into_place(staging, key, force)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        logger.info("saved voice %r (%.1f s)", key, wav.shape[0] / sr)
        return self.get(key)

    def check_new(self, name: object, clip: object, transcript: object, force: bool = False) -> tuple[str, Upload]:
        """The checks of `add` that need no model: the name (and that it is new, unless `force`), the clip's file
        type and length, the transcript's type."""
        key = checked_name(name)
        upload = checked_upload(clip, transcript)
        if not force and (self.root / key).exists():
            raise InputError(f"a voice named {key!r} exists; remove it first, or replace it (--force)", "name")
        return key, upload

    def remove(self, name: object) -> None:
        """Delete a saved voice (UnknownVoice when there is none of that name)."""
        voice = self.get(name)
        if voice.folder is None:
            raise InputError(f"the built-in voice {BUILTIN!r} cannot be removed", "name")
        doomed = self.root / f".removed-{voice.name}-{uuid.uuid4().hex}"
        os.rename(voice.folder, doomed)  # gone from the list at once, as a unit
        shutil.rmtree(doomed, ignore_errors=True)

    def reference(self, voice: Voice, synthesizer: Synthesizer) -> Reference:
        """The voice's prepared reference for this synthesizer's model and codec: read from the store, or
        prepared from the clip (and kept) when the store has none for this identity."""
        identity = self.identity(synthesizer)
        if voice.folder is not None:
            path = voice.folder / "prepared" / f"{identity}.safetensors"
            if path.is_file():
                try:
                    return _load_reference(path)
                except (OSError, ValueError, TypeError, KeyError) as err:  # stale format or damaged: prepare anew
                    logger.warning("prepared voice %s unreadable (%s); preparing it again", path, err)
        wav, sr = load_audio(voice.clip, synthesizer.sample_rate)
        reference = synthesizer.prepare_reference(wav, sr, voice.transcript, synthesizer.options)
        if voice.folder is not None:
            logger.info("voice %r: prepared for another model or codec", voice.name)
            self._save_prepared(voice.folder, identity, reference)
        return reference

    def identity(self, synthesizer: Synthesizer) -> str:
        """What a prepared reference depends on: the model's config (its rules, tokenizer, vocabulary), the
        codec's kind, rate and weights, and the reference options; hashed once per synthesizer."""
        if synthesizer not in self._identities:
            digest = hashlib.sha256()
            described = {"model": synthesizer.model.config.to_dict(), "codec": type(synthesizer.codec).__name__,
                         "sample_rate": synthesizer.sample_rate,
                         "max_ref_seconds": synthesizer.options.max_ref_seconds,
                         "reference": [f.name for f in dataclasses.fields(Reference)]}
            digest.update(json.dumps(described, sort_keys=True, default=str).encode())
            for key, tensor in sorted(synthesizer.codec.state_dict().items()):
                digest.update(key.encode())
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
            self._identities[synthesizer] = digest.hexdigest()[:16]
        return self._identities[synthesizer]

    def _save_prepared(self, folder: Path, identity: str, reference: Reference) -> None:
        tensors, meta = {}, {}
        for f in dataclasses.fields(reference):
            value = getattr(reference, f.name)
            if isinstance(value, torch.Tensor):
                tensors[f.name] = value.detach().cpu().contiguous()
            else:
                meta[f.name] = json.dumps(value)
        atomic_write(folder / "prepared" / f"{identity}.safetensors", lambda tmp: save_file(tensors, tmp, meta))

    def _move_into_place(self, staging: Path, key: str, force: bool) -> None:
        target = self.root / key
        if force and target.exists():
            old = self.root / f".old-{key}-{uuid.uuid4().hex}"
            os.rename(target, old)
            try:
                os.rename(staging, target)
            except OSError:
                os.rename(old, target)  # another process saved the name meanwhile: keep what was there
                raise
            shutil.rmtree(old, ignore_errors=True)
            return
        try:
            os.rename(staging, target)  # fails when the name exists (a non-empty folder)
        except OSError:
            raise InputError(f"a voice named {key!r} exists; remove it first, or replace it (--force)",
                             "name") from None

    def _recover(self) -> None:
        """Tidy after processes that died while saving or removing a voice: a voice that was being replaced
        (`.old-NAME-*`, with no NAME beside it) is put back; unfinished and deleted folders are removed."""
        for path in self.root.glob(".*-*"):
            try:
                age = time.time() - path.stat().st_mtime
                key = path.name.split("-", 1)[1].rsplit("-", 1)[0]
                if path.name.startswith(".old-") and age > RECOVER_SECONDS and not (self.root / key).exists():
                    os.rename(path, self.root / key)
                    logger.warning("voice %r: put back after an interrupted replacement", key)
                elif age > STALE_SECONDS or path.name.startswith(".removed-"):
                    shutil.rmtree(path, ignore_errors=True)
            except (OSError, IndexError):
                pass


def _load_reference(path: Path) -> Reference:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    fields: dict = {name: json.loads(text) for name, text in meta.items() if name != "format"}
    fields.update(load_file(str(path)))
    return Reference(**fields)
