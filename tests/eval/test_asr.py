import json

import pytest
import torch

from codec.audio import load_audio, resample
from eval.asr import ASR, ASRError, HubertCTCASR, WhisperASR, load_asr
from eval.wer import utterance_wer


def _clip(realspeech, utt_id):
    row = next(r for r in realspeech if r["id"] == utt_id)
    wav, sr = load_audio(row["path"])
    return wav, sr, row["transcript"]


def test_pocketsphinx_recognises_real_speech(realspeech, pocketsphinx_asr):
    assert isinstance(pocketsphinx_asr, ASR)
    clips = [_clip(realspeech, i) for i in ("1089-134686-0000", "3752-4944-0001")]
    hyps = pocketsphinx_asr.transcribe([c[0] for c in clips], 16000)
    assert len(hyps) == 2
    for (_, _, ref), hyp in zip(clips, hyps):
        # an offline model is far from Whisper, but on clean read speech it gets most words
        assert utterance_wer(ref, hyp).wer < 0.5
    # a transcript matches its own clip better than the other clip's text
    assert utterance_wer(clips[0][2], hyps[0]).wer < utterance_wer(clips[1][2], hyps[0]).wer


def test_pocketsphinx_resamples_its_input(realspeech, pocketsphinx_asr):
    wav, sr, ref = _clip(realspeech, "3752-4944-0001")
    native = pocketsphinx_asr.transcribe([wav], sr)[0]
    upsampled = pocketsphinx_asr.transcribe([resample(wav, sr, 24000)], 24000)[0]
    assert utterance_wer(native, upsampled).wer <= 0.2


@pytest.fixture(scope="module")
def tiny_ctc_dir(tmp_path_factory):
    """A random 2-layer HuBERT CTC model with a letter vocabulary, saved as a local checkpoint."""
    from transformers import (HubertConfig, HubertForCTC, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor,
                              Wav2Vec2Processor)

    path = tmp_path_factory.mktemp("tiny_hubert")
    letters = {c: 5 + i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")}
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4} | letters
    (path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(path / "vocab.json"))
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(path)
    torch.manual_seed(0)
    config = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16, 16), conv_stride=(5, 64), conv_kernel=(10, 64), num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True,
                          vocab_size=len(vocab), pad_token_id=0)
    HubertForCTC(config).save_pretrained(path)
    return path


def test_ctc_backend_loads_a_local_path_and_batch_equals_single(tiny_ctc_dir):
    asr = HubertCTCASR(tiny_ctc_dir, batch_size=4)
    gen = torch.Generator().manual_seed(0)
    wavs = [0.1 * torch.randn(n, generator=gen) for n in (16000, 9000, 23000)]
    batched = asr.transcribe(wavs, 16000)
    single = [asr.transcribe([w], 16000)[0] for w in wavs]
    assert batched == single
    assert all(isinstance(t, str) for t in batched)
    assert asr.describe()["model"] == str(tiny_ctc_dir)


@pytest.fixture(scope="module")
def tiny_whisper_dir(tmp_path_factory):
    """A random 1-layer Whisper with a byte-level vocabulary and the generation config of a multilingual model."""
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                              WhisperProcessor, WhisperTokenizer)
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    path = tmp_path_factory.mktemp("tiny_whisper")
    (path / "vocab.json").write_text(json.dumps({ch: i for i, ch in enumerate(bytes_to_unicode().values())}))
    (path / "merges.txt").write_text("#version: 0.2\n")
    end = "<|endoftext|>"
    tokenizer = WhisperTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), unk_token=end, bos_token=end,
                                 eos_token=end, pad_token=end)
    specials = ["<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|notimestamps|>"]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in [end, *specials]}
    processor = WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer)
    processor.save_pretrained(path)
    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=len(tokenizer), num_mel_bins=80, encoder_layers=1, decoder_layers=1, d_model=16,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                           max_target_positions=64, decoder_start_token_id=ids["<|startoftranscript|>"],
                           eos_token_id=ids[end], pad_token_id=ids[end], bos_token_id=ids[end])
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        lang_to_id={"<|en|>": ids["<|en|>"]}, is_multilingual=True, max_length=12,
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids[end], pad_token_id=ids[end], bos_token_id=ids[end])
    model.save_pretrained(path)
    return path


def test_whisper_backend_loads_a_local_path_and_batch_equals_single(tiny_whisper_dir):
    asr = WhisperASR(tiny_whisper_dir, batch_size=3)
    gen = torch.Generator().manual_seed(0)
    wavs = [0.1 * torch.randn(n, generator=gen) for n in (16000, 40000, 8000)]
    batched = asr.transcribe(wavs, 16000)
    assert batched == [asr.transcribe([w], 16000)[0] for w in wavs]
    assert asr.describe()["num_beams"] == 5 and asr.describe()["language"] == "en"


def test_missing_models_fail_clearly(tmp_path):
    with pytest.raises(ASRError, match="cannot load ASR model"):
        WhisperASR(tmp_path / "no-such-whisper")
    with pytest.raises(ASRError):
        HubertCTCASR(tmp_path / "no-such-hubert")
    with pytest.raises(ValueError, match="unknown ASR backend"):
        load_asr("kaldi")
    with pytest.raises(ValueError, match="no model path"):
        load_asr("pocketsphinx", "some/path")


def test_join_parts_checks_the_hash(tmp_path):
    import hashlib

    from eval.asr import join_parts

    parts = [tmp_path / "a", tmp_path / "b"]
    parts[0].write_bytes(b"first half ")
    parts[1].write_bytes(b"second half")
    good = hashlib.sha256(b"first half second half").hexdigest()
    out = join_parts(parts, tmp_path / "cache" / "model.bin", good)
    assert out.read_bytes() == b"first half second half"
    assert join_parts(parts, out, good) == out  # joined once, checked again
    out.write_bytes(b"first half second hal!")  # the cached join corrupted
    with pytest.raises(ASRError, match="cached join is damaged"):
        join_parts(parts, out, good)
    parts[1].write_bytes(b"second hal!")  # a damaged part: the join is refused and nothing is left behind
    with pytest.raises(ASRError, match="expected " + good):
        join_parts(parts, tmp_path / "other" / "model.bin", good)
    assert list((tmp_path / "other").iterdir()) == []


def test_faster_whisper_base_recognises_real_speech_offline(realspeech, tmp_path):
    from eval.asr import WHISPER_BASE_SHA256, FasterWhisperASR, _sha256

    asr = FasterWhisperASR("base", cache=tmp_path)
    assert _sha256(tmp_path / f"whisper-base-ct2-{WHISPER_BASE_SHA256[:12]}" / "model.bin") == WHISPER_BASE_SHA256
    wav, sr, ref = _clip(realspeech, "7176_92135_000004_000000")
    hyp = asr.transcribe([wav], sr)[0]
    assert utterance_wer(ref, hyp).wer < 0.25  # Whisper base on clean read speech: a few words wrong at most
    assert asr.describe()["backend"] == "faster-whisper"


def test_faster_whisper_unknown_model_fails_clearly(tmp_path):
    with pytest.raises(ASRError, match="cannot load faster-whisper model"):
        load_asr("faster-whisper", str(tmp_path / "no-such-model"))
