"""Evaluation of the codec and the TTS model, on the protocols of published results.

    python -m eval tts   --librispeech DIR --pairs LIST --model TTS --out runs/tts   # WER, SIM-o (LibriSpeech-PC)
    python -m eval codec --manifest M.tsv --out runs/codec                           # PESQ, STOI, mel, WER, SIM
    python -m eval speed --model TTS --ref-wav W --ref-text T --out runs/speed       # RTF, peak memory

Metrics are plain functions that take their models (an `ASR`, a `SpeakerScorer`) as arguments.
"""
from .asr import ASR, FasterWhisperASR, HubertCTCASR, PocketSphinxASR, WhisperASR, load_asr
from .generate import Synthesizer, generate_test_set
from .protocol import EvalPair, Utterance, build_cross_sentence_pairs, read_librispeech, read_pair_list
from .reconstruction import mel_distance, pesq_wb, signal_metrics, stoi
from .speaker import ResemblyzerScorer, SpeakerScorer, WavLMECAPAScorer, load_speaker_scorer, speaker_similarity
from .text_norm import normalize_text
from .wer import summarize_wer, utterance_wer

__all__ = [
    "ASR", "WhisperASR", "FasterWhisperASR", "HubertCTCASR", "PocketSphinxASR", "load_asr",
    "SpeakerScorer", "ResemblyzerScorer", "WavLMECAPAScorer", "load_speaker_scorer", "speaker_similarity",
    "normalize_text", "utterance_wer", "summarize_wer",
    "EvalPair", "Utterance", "read_pair_list", "read_librispeech", "build_cross_sentence_pairs",
    "Synthesizer", "generate_test_set",
    "pesq_wb", "stoi", "mel_distance", "signal_metrics",
]
