"""Fine-tuning on a folder of clips: vocabulary growth, exact resume, the alignment guard, bad input."""
import dataclasses
import hashlib
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from codec import WavCube
from codec.interface import CodecMismatchError
from codec.spec import CodecSpec
from recipes.alignment_guard import AlignmentGuard, item_order_gaps, order_score
from recipes.checkpoint import list_checkpoints
from recipes.ema import EMASchedule
from recipes.finetune import FinetuneConfig, finetune, finetune_training, main, prepare, whisper_base
from recipes.user_data import ClipRules, DataError, check_clip, read_user_data, recognizer_transcribe
from tests.conftest import REPO
from tests.recipes.conftest import write_clip
from tts.dit import DiTConfig
from tts.loading import load_model
from tts.model import TTSConfig, TTSModel
from tts.synthesizer import Synthesizer
from tts.text import build_tokenizer
from tts.vocab_growth import EMBEDDING_KEY, VocabularyError, grow_vocabulary, missing_tokens

F5_SOURCE = REPO / "tests" / "data" / "f5_reference" / "model.safetensors"  # with vocab.txt and config.json beside
TINY = FinetuneConfig.tiny()  # 4 epochs of 2 batches (6 clips train, 2 held out): 8 steps, measured every 4


def folder_digest(folder: Path) -> str:
    """Names and bytes of every file under `folder`: equal digests, nothing added, removed or changed."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module", autouse=True)
def _conversion_cache(tmp_path_factory):
    """F5-TTS checkpoints are converted once into a cache: here a temporary one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUBETTS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def clips(tmp_path_factory, speech) -> Path:
    """The LJSpeech layout: `wavs/<id>.wav` (2.5 s each) and `metadata.csv` of `id|text` lines."""
    root = tmp_path_factory.mktemp("clips")
    for r in speech:
        write_clip(Path(r["path"]), root / "wavs" / f"{r['id']}.wav")
    (root / "metadata.csv").write_text("".join(f"{r['id']}|{r['transcript']}\n" for r in speech))
    return root


@pytest.fixture(scope="module")
def f5_run(clips, tmp_path_factory):
    """The tiny F5-TTS checkpoint fine-tuned on the clips (Griffin-Lim stands in for its Vocos: same mel)."""
    before = folder_digest(clips)
    run_dir = tmp_path_factory.mktemp("f5-run")
    result = finetune(TINY, str(F5_SOURCE), clips, run_dir, codec="griffin-lim", cpu=True, workers=0)
    return run_dir, result, before


def test_f5_model_grows_its_vocabulary_keeps_its_codec_and_synthesises(f5_run, clips):
    run_dir, result, before = f5_run
    source = load_model(F5_SOURCE)
    tuned = TTSModel.from_pretrained(run_dir / "model")
    old = source.config.vocab
    added = tuned.config.vocab[len(old):]
    texts = [line.split("|", 1)[1] for line in (clips / "metadata.csv").read_text().splitlines()]
    assert tuned.config.vocab[:len(old)] == old and added  # appended: every old token keeps its id
    assert set(added) == {c for text in texts for c in text} - set(old)  # the letters it lacked (upper case)
    assert tuned.state_dict()[EMBEDDING_KEY].shape[0] == len(tuned.config.vocab) + 1
    # The model's own codec record, tokenizer and rules: Griffin-Lim only stood in for extraction.
    assert (tuned.config.codec, tuned.config.tokenizer, tuned.config.rules) == \
        (source.config.codec, "f5", source.config.rules)
    assert len(result.losses) == 8 and all(np.isfinite(result.losses))
    synthesizer = Synthesizer.from_pretrained(run_dir / "model", "griffin-lim")
    ref = next((clips / "wavs").iterdir())
    wav, sr = synthesizer.synthesize("HELLO THERE.", str(ref), ref_text="HE GAVE WAY", nfe=2, seed=0)
    assert sr == 24000 and wav.numel() > 0 and torch.isfinite(wav).all()
    assert folder_digest(clips) == before  # nothing written into the data folder
    assert (run_dir / "data" / "train.tsv").is_file() and (run_dir / "data" / "heldout.tsv").is_file()


def test_fine_tuned_folder_loads_in_the_command_line_and_the_app(f5_run, clips, tmp_path):
    from app.models import load_synthesizer
    from tts.cli import main as tts_main

    run_dir, _, _ = f5_run
    ref = str(sorted((clips / "wavs").iterdir())[0])
    assert tts_main(["synth", "--model", str(run_dir / "model"), "--codec", "griffin-lim", "--text", "HELLO THERE.",
                     "--ref", ref, "--ref-text", "HE GAVE WAY", "--out", str(tmp_path / "out.wav"), "--nfe", "2",
                     "--seed", "0", "--device", "cpu"]) in (0, None)
    assert sf.info(str(tmp_path / "out.wav")).frames > 0
    synthesizer, status = load_synthesizer(str(run_dir / "model"), "griffin-lim", "none", torch.device("cpu"))
    assert synthesizer is not None and status.ready, status.problem
    assert synthesizer.model.config.license == load_model(F5_SOURCE).config.license  # the weights' licence, kept


def test_guard_logs_and_samples_every_measurement(f5_run):
    run_dir, result, _ = f5_run
    assert [v.step for v in result.verdicts] == [0, 4, 8]
    assert all(np.isfinite(v.score) for v in result.verdicts)
    for step in (0, 4, 8):
        assert list((run_dir / "samples" / f"step-{step:08d}").glob("*.wav"))
    events = EventAccumulator(str(run_dir / "logs"), size_guidance={"audio": 0, "scalars": 0}).Reload()
    assert [e.step for e in events.Scalars("text_gap/text_gap")] == [0, 4, 8]
    assert [e.step for e in events.Scalars("guard/uses_text")] == [0, 4, 8]
    assert [e.step for e in events.Scalars("guard/order_score")] == [0, 4, 8]
    assert any(tag.startswith("samples/") for tag in events.Tags()["audio"])


def test_resumed_run_repeats_the_straight_run_and_reuses_the_latents(f5_run, clips, tmp_path):
    _, straight, _ = f5_run
    first = finetune(TINY, str(F5_SOURCE), clips, tmp_path, codec="griffin-lim", until_step=5, cpu=True, workers=0)
    shards = sorted((tmp_path / "data" / "latents").rglob("shard-*.safetensors"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    second = finetune(TINY, str(F5_SOURCE), clips, tmp_path, codec="griffin-lim", cpu=True, workers=0)
    assert first.losses == straight.losses[:5] and second.losses == straight.losses[5:]
    assert [p.stat().st_mtime_ns for p in shards] == stamps  # extracted once
    assert [v.step for v in first.verdicts + second.verdicts] == [0, 4, 8]


def tiny_cubetts_model(config: TTSConfig) -> TTSModel:
    """A random model: off adaLN-Zero's start (zero output whatever the input), so that every weight matters."""
    torch.manual_seed(0)
    model = TTSModel(config)
    with torch.no_grad():
        for p in model.dit.parameters():
            p.add_(0.02 * torch.randn(p.shape))
    return model


def tiny_cubetts(directory: Path, codec: CodecSpec, tokenizer: str = "f5", latent_dim: int = 128,
                 layout: str = "spread", vocab: str = " abcdefghijklmnopqrstuvwxyz',.") -> Path:
    """A saved tiny cubetts model on `codec`'s latents with random weights (F5-TTS's tokenizer over `vocab`)."""
    tokens = tuple(vocab) if tokenizer == "f5" else None
    size = len(tokens) + 1 if tokens else TTSConfig.tiny(tokenizer=tokenizer).dit.text_vocab_size
    config = TTSConfig(dit=DiTConfig.tiny(latent_dim=latent_dim, text_vocab_size=size, text_layout=layout),
                       tokenizer=tokenizer, vocab=tokens, codec=codec)
    tiny_cubetts_model(config).save_pretrained(directory)
    return directory


def test_cubetts_model_with_frozen_weights_but_text(clips, tiny_codec_dir, tmp_path):
    source = tiny_cubetts(tmp_path / "source", WavCube.from_pretrained(tiny_codec_dir).spec())
    config = dataclasses.replace(TINY, freeze="all-but-text", epochs=2)
    result = finetune(config, str(source), clips, tmp_path / "run", cpu=True, workers=0)
    trained = list_checkpoints(tmp_path / "run" / "checkpoints")[-1] / "model"  # the raw weights after step 4
    before, after = TTSModel.from_pretrained(source).state_dict(), TTSModel.from_pretrained(trained).state_dict()
    for key, value in before.items():
        if key == EMBEDDING_KEY:
            assert after[key].shape[0] > value.shape[0]  # upper-case letters of the LibriSpeech transcripts
        elif key.startswith("dit.text_embed."):
            assert not torch.equal(after[key], value), key  # the text side trained
        else:
            assert torch.equal(after[key], value), key  # everything else stayed
    wav, _ = Synthesizer.from_pretrained(result.model).synthesize(
        "HELLO.", str(next((clips / "wavs").iterdir())), ref_text="HE GAVE WAY", nfe=2, seed=0)
    assert torch.isfinite(wav).all()


# The alignment guard: a tone corpus in which each letter is a tone of its own pitch (0.12 s), so that a tiny model
# with the spread layout reads the text within a few steps; shifting the transcripts by one clip breaks that.
LETTERS = "abcd"


def tone_corpus(root: Path, n: int = 28, shifted: bool = False, seed: int = 0) -> Path:
    rng = random.Random(seed)
    (root / "wavs").mkdir(parents=True)
    t = np.arange(int(0.12 * 16000)) / 16000
    words = []
    for i in range(n):
        word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(9, 12)))
        wav = np.concatenate([0.3 * np.sin(2 * np.pi * (200 + 180 * LETTERS.index(c)) * t) for c in word])
        sf.write(root / "wavs" / f"c{i:03d}.wav", wav.astype(np.float32), 16000)
        words.append(word)
    if shifted:
        words = words[1:] + words[:1]
    (root / "metadata.csv").write_text("".join(f"c{i:03d}|{w}\n" for i, w in enumerate(words)))
    return root


GUARD = FinetuneConfig(train=finetune_training(lr=1e-2, warmup_steps=2, batch_seconds=16.0, workers=0, log_every=5,
                                               checkpoint_every=100, keep_checkpoints=1, text_gap_every=5,
                                               text_gap_items=8, ema=EMASchedule(0.99, 2, 4)),
                       epochs=10, heldout_items=8, guard_patience=30, samples=0)  # 3 batches an epoch: 30 steps


@pytest.mark.parametrize("shifted", [False, True], ids=["healthy", "shuffled"])
def test_guard_flags_shuffled_transcripts_and_passes_a_healthy_run(tmp_path, shifted, capsys):
    mel = CodecSpec("mel", "griffin-lim", 100, 93.75)
    source = tiny_cubetts(tmp_path / "source", mel, latent_dim=100, vocab=" " + LETTERS)
    data = tone_corpus(tmp_path / "data", n=40, shifted=shifted)
    result = finetune(GUARD, str(source), data, tmp_path / "run", cpu=True, workers=0, stop_if_not_aligned=True)
    out = capsys.readouterr().out
    assert len(result.losses) == 30
    if shifted:
        assert [v.not_aligned for v in result.verdicts] == [False] * 6 + [True]  # at the patience: step 30
        assert "not using the text" in out and "check the transcripts" in out and "stopping at step 30" in out
    else:
        assert not any(v.not_aligned for v in result.verdicts) and result.verdicts[-1].uses_text
        assert "uses the text" in out and "WARNING" not in out
    assert [c.name for c in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-00000030"]


def guard_run(scores: list[float], every: int = 5, patience: int = 30) -> list:
    """The guard's verdicts on a recorded curve of match scores (from clip gaps `s - 1, s + 1`: score s)."""
    guard = AlignmentGuard(patience)
    return [guard.update(i * every, [s - 1, s + 1]) for i, s in enumerate(scores)]


# Order scores of the test above, every 5 steps from step 0: transcripts right and shifted by one clip.
HEALTHY = [2.64, 1.82, 0.83, 2.08, 4.37, 4.23, 4.22]
SHIFTED = [-1.52, 0.55, -0.45, -0.68, 0.75, -0.91, -0.82]


def test_guard_decisions_on_recorded_curves():
    assert order_score([0.5, 1.5]) == pytest.approx(2.0) and order_score([0.0, 0.0]) == 0.0
    assert order_score([0.1, 0.1, 0.1]) == 100.0  # every clip gains alike
    healthy = guard_run(HEALTHY)
    assert [v.uses_text for v in healthy] == [True, False, False, True, True, True, True]
    assert not any(v.not_aligned for v in healthy)  # mean of steps 5-30: 2.9
    shifted = guard_run(SHIFTED + [-0.5])
    assert [v.not_aligned for v in shifted] == [False] * 6 + [True] * 2  # flagged at step 30, the patience
    assert [("WARNING" in v.message) for v in shifted] == [False] * 6 + [True, False]  # said once
    assert "more data per voice" in shifted[6].message and "lower learning rate" in shifted[6].message
    # One lucky measurement does not hide a run that does not align (the window's mean decides) ...
    spiky = guard_run([0.0, -1.0, 3.0, -0.5, 0.2, 0.1, 0.3])
    assert spiky[2].uses_text and spiky[-1].not_aligned
    # ... and a run that starts to read the text clears the flag.
    late = guard_run([0.0] * 7 + [8.0, 9.0, 9.0])
    assert late[6].not_aligned and not late[-1].not_aligned


def test_guard_state_survives_a_resume():
    straight = guard_run(SHIFTED)
    first = AlignmentGuard(30)
    for i, s in enumerate(SHIFTED[:4]):
        first.update(i * 5, [s - 1, s + 1])
    second = AlignmentGuard(30)
    second.load_state_dict(first.state_dict())
    assert [second.update(i * 5, [s - 1, s + 1]) for i, s in enumerate(SHIFTED) if i >= 4] == straight[4:]


def test_order_gaps_are_zero_for_a_model_that_ignores_text(latents):
    from recipes.shards import LatentDataset
    from recipes.train_tts import Collate, reversed_text

    text = torch.tensor([[3, 4, 5, 0], [6, 7, 0, 0], [8, 9, 10, 11]])
    assert reversed_text(text).tolist() == [[5, 4, 3, 0], [7, 6, 0, 0], [11, 10, 9, 8]]
    dataset = LatentDataset(latents)
    batch = Collate(build_tokenizer("char"))([dataset[i] for i in range(3)])
    fresh = TTSModel(TTSConfig.tiny(tokenizer="char"))  # adaLN-Zero: zero velocity whatever the text
    assert item_order_gaps(fresh, batch) == [0.0, 0.0, 0.0]
    randomized = tiny_cubetts_model(TTSConfig.tiny(tokenizer="char"))
    gaps = item_order_gaps(randomized, batch)
    assert all(g != 0.0 for g in gaps) and gaps == item_order_gaps(randomized, batch)  # fixed draws


# Bad input: each a specific message before any training starts, the data folder untouched.

def wav(path: Path, seconds: float, sr: int = 16000, amplitude: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def bad_folder(kind: str, root: Path) -> Path:
    root.mkdir()
    if kind == "no audio":
        (root / "notes.txt").write_text("no clips here")
    elif kind == "bad lines":
        wav(root / "wavs" / "a.wav", 2.0)
        (root / "metadata.csv").write_text("a|Hello there.\nmissing|This file is not there.\nno text field\n")
    elif kind == "lengths":
        wav(root / "wavs" / "short.wav", 0.5)
        wav(root / "wavs" / "long.wav", 31.0)
        (root / "metadata.csv").write_text("short|A short one.\nlong|A long one.\n")
    else:
        wav(root / "wavs" / "a.wav", 2.0)
        wav(root / "wavs" / "b.wav", 2.0)
        (root / "metadata.csv").write_text("a|Привет, мир.\nb|Добрый день.\n")
    return root


@pytest.mark.parametrize("kind, source, codec, message", [
    ("no audio", "f5", "griffin-lim", "holds no audio files"),
    ("bad lines", "f5", "griffin-lim", "line 2: no audio file for 'missing'"),
    ("bad lines", "f5", "griffin-lim", "line 3: expected id|text or id|text|normalized, found 1 field"),
    ("lengths", "f5", "griffin-lim", "too short: 0.50 s (at least 1 s)"),
    ("lengths", "f5", "griffin-lim", "too long: 31.00 s (at most 30 s)"),
    ("other alphabet", "char", None, "fixed vocabulary"),
    ("other alphabet", "no-such-model", None, "not found"),
    ("other alphabet", "f5", "wavcube", "does not match the one the TTS model was trained on"),
])
def test_bad_input_is_named_before_training(kind, source, codec, message, tmp_path, tiny_codec_dir, capsys):
    data = bad_folder(kind, tmp_path / "data")
    before = folder_digest(data)
    if source == "char":
        source = str(tiny_cubetts(tmp_path / "char", WavCube.from_pretrained(tiny_codec_dir).spec(), "char"))
    elif source == "f5":
        source = str(F5_SOURCE)
    args = ["--from", source, "--data", str(data), "--run-dir", str(tmp_path / "run"), "--config", "tiny", "--cpu",
            "--workers", "0", "--no-wer"]
    if codec is not None:
        args += ["--codec", str(tiny_codec_dir) if codec == "wavcube" else codec]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert folder_digest(data) == before


def test_bad_lines_are_counted_and_skippable(tmp_path):
    data = bad_folder("bad lines", tmp_path / "data")
    with pytest.raises(DataError, match=r"metadata.csv: 2 bad lines of 3:\n  line 2: .*\n  line 3: "):
        prepare(TINY, str(F5_SOURCE), data, tmp_path / "run", "griffin-lim", workers=0)
    with pytest.raises(DataError, match="only 1 usable clip"):  # skipped: the one good clip is too few
        prepare(TINY, str(F5_SOURCE), data, tmp_path / "run", "griffin-lim", skip_bad_lines=True, workers=0)


def test_a_model_that_cannot_grow_names_the_letters(tmp_path, tiny_codec_dir):
    source = tiny_cubetts(tmp_path / "char", WavCube.from_pretrained(tiny_codec_dir).spec(), "char")
    with pytest.raises(VocabularyError, match=r"'char' tokenizer has a fixed vocabulary .* cannot be extended"):
        prepare(TINY, str(source), bad_folder("other alphabet", tmp_path / "data"), tmp_path / "run", workers=0)


def test_run_folder_inside_the_data_is_refused(clips):
    with pytest.raises(DataError, match="inside the data folder"):
        prepare(TINY, str(F5_SOURCE), clips, clips / "run", "griffin-lim", workers=0)


def test_another_codec_is_refused(clips, tiny_codec_dir, tmp_path):
    with pytest.raises(CodecMismatchError):
        prepare(TINY, str(F5_SOURCE), clips, tmp_path, str(tiny_codec_dir), workers=0)
    assert not (tmp_path / "data").exists()


def test_command_line_prepares_then_trains(clips, tmp_path, capsys):
    args = ["--from", str(F5_SOURCE), "--data", str(clips), "--run-dir", str(tmp_path), "--config", "tiny",
            "--codec", "griffin-lim", "--cpu", "--workers", "0", "--no-wer"]
    main(args + ["--prepare-only"])
    assert (tmp_path / "data" / "train.tsv").is_file() and not (tmp_path / "checkpoints").exists()
    out = capsys.readouterr().out
    assert "8 usable clips" in out and "vocabulary: the transcripts need" in out
    main(args + ["--until-step", "1"])
    assert [c.name for c in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000001"]
    assert TTSModel.from_pretrained(tmp_path / "model").config.vocab is not None
    shutil.rmtree(tmp_path)


def test_grown_vocabulary_appends_rows_as_f5_does():
    model = load_model(F5_SOURCE)
    grown = grow_vocabulary(model, ["Ж", "ß"])
    old, new = model.state_dict(), grown.state_dict()
    assert grown.config.vocab == model.config.vocab + ("Ж", "ß")
    assert grown.config.dit.text_vocab_size == model.config.dit.text_vocab_size + 2
    rows = new[EMBEDDING_KEY]
    assert torch.equal(rows[:-2], old[EMBEDDING_KEY])  # every old row, unchanged
    assert torch.equal(rows[-2:], torch.randn(2, rows.shape[1], generator=torch.Generator().manual_seed(666)))
    assert all(torch.equal(new[k], v) for k, v in old.items() if k != EMBEDDING_KEY)
    ids = build_tokenizer("f5", grown.config.vocab).encode("aЖ")
    assert ids == [model.config.vocab.index("a") + 1, len(model.config.vocab) + 1]  # old ids kept, new ones next
    with pytest.raises(ValueError, match="already in the vocabulary"):
        grow_vocabulary(model, ["a"])
    assert missing_tokens(model.config, ["Grüße, Жанна!"]) == sorted({"G", "ü", "ß", "Ж", "а", "н"})


def test_fixed_vocabularies_read_what_english_normalisation_spells():
    config = TTSConfig.tiny(tokenizer="char")
    assert missing_tokens(config, ["Señor Muñoz, naïve café."]) == []  # accents dropped: still letters it reads
    with pytest.raises(VocabularyError, match=r"3 letters of the transcripts would be dropped \(ß 日 本\)"):
        missing_tokens(config, ["Hello 日本, Straße"])


def test_clip_checks_name_the_reason(tmp_path):
    rules = ClipRules()
    assert check_clip(wav(tmp_path / "ok.wav", 2.0), rules) == (2.0, None)
    assert check_clip(wav(tmp_path / "quiet.wav", 2.0, amplitude=1e-4), rules)[1].startswith("silent: RMS -83 dBFS")
    assert check_clip(wav(tmp_path / "loud.wav", 2.0, amplitude=3.0), rules)[1].startswith("clipped: ")
    assert check_clip(wav(tmp_path / "phone.wav", 2.0, sr=8000), rules)[1] == "sample rate 8000 Hz is below 16000 Hz"
    (tmp_path / "junk.wav").write_bytes(b"not audio")
    assert check_clip(tmp_path / "junk.wav", rules)[1].startswith("unreadable: ")
    from tests.codec.test_sweep_inputs import streaming_flac
    from tests.conftest import speechlike

    streamed = streaming_flac(tmp_path / "streamed.flac", speechlike(2.0).numpy(), 16000)  # no length in its header
    assert check_clip(streamed, rules) == (pytest.approx(2.0), None)
    long = streaming_flac(tmp_path / "long.flac", speechlike(40.0).numpy(), 16000)
    assert check_clip(long, rules)[1].startswith("too long: ")  # counted only past the 30 s limit


def test_audio_alone_is_transcribed_into_the_run_folder_once(tmp_path):
    source = tmp_path / "data"
    for name in ("a", "b", "c"):
        wav(source / "speaker" / f"{name}.wav", 1.5)
    (source / "speaker" / "c.txt").write_text("The transcript beside the clip.")
    before = folder_digest(source)
    asked: list[list[str]] = []

    def transcribe(paths):
        asked.append([p.name for p in paths])
        return [f"heard {p.stem}" for p in paths]

    found = read_user_data(source, tmp_path / "run" / "data", transcribe=transcribe)
    assert asked == [["a.wav", "b.wav"]] and found.layout == "audio"
    assert [(u.id, u.text, u.speaker) for u in found.utterances] == [
        ("speaker/a.wav", "heard a", "speaker"), ("speaker/b.wav", "heard b", "speaker"),
        ("speaker/c.wav", "The transcript beside the clip.", "speaker")]
    assert found.transcribed == tmp_path / "run" / "data" / "metadata.csv"
    assert found.transcribed.read_text() == "speaker/a.wav|heard a\nspeaker/b.wav|heard b\n"  # for review
    again = read_user_data(source, tmp_path / "run" / "data", transcribe=transcribe)
    assert asked == [["a.wav", "b.wav"]] and again.utterances == found.utterances  # reused, not transcribed again
    assert folder_digest(source) == before


def test_whisper_base_transcribes_clips_offline(clips):
    pytest.importorskip("faster_whisper")
    try:
        asr = whisper_base("en", fallback=True)()
    except Exception as err:  # noqa: BLE001 - the packaged model is not installed here
        pytest.skip(f"offline Whisper base unavailable: {err}")
    first = sorted((clips / "wavs").iterdir())[0]
    heard = recognizer_transcribe(asr)([first])[0]
    said = dict(line.split("|", 1) for line in (clips / "metadata.csv").read_text().splitlines())[first.stem]
    words = set(said.lower().split())
    assert len(words & set(heard.lower().replace(",", "").replace(".", "").split())) >= 2, (said, heard)
