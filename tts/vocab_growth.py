"""Growing a model's text vocabulary for new data: the tokens a fine-tuning corpus needs that the model lacks.

Which model can grow is decided by the tokenizer its checkpoint records (`TTSConfig.tokenizer`), one strategy
each: F5-TTS's tokenizer reads a vocabulary the config stores, so a token it lacks (a letter of another
alphabet, a pinyin syllable) can be appended; the phone and character tokenizers have fixed vocabularies
(ARPAbet; English letters after normalisation), so data they cannot read is refused with the reason.

A grown model is the old one with rows appended to its text embedding, as F5-TTS's fine-tuning page does it
(`expand_model_embeddings` in its `train/finetune_gradio.py`): old rows copied unchanged, one new row per new
token at the end (the new token's id is the next free one, so every old id keeps its row), drawn from a
standard normal (nn.Embedding's own initialisation) by a generator seeded 666 (F5-TTS's seed there).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

import torch

from .model import TTSConfig, TTSModel
from .text import TextError, Tokenizer, build_tokenizer

GROWTH_SEED = 666  # F5-TTS's expand_model_embeddings seeds its new rows with it
EMBEDDING_KEY = "dit.text_embed.embed.weight"


class VocabularyError(ValueError):
    """The data needs tokens the model's tokenizer cannot take, and its vocabulary cannot grow."""


class VocabularyGrowth(ABC):
    """What a tokenizer family can do with text outside its vocabulary."""

    @abstractmethod
    def missing(self, tokenizer: Tokenizer, texts: Iterable[str]) -> list[str]:
        """The tokens `texts` (raw transcripts) need that `tokenizer` lacks, sorted; [] when it reads them all.
        Raises VocabularyError when the vocabulary is fixed and some text cannot be read."""

    @abstractmethod
    def grown(self, config: TTSConfig, tokens: Sequence[str]) -> TTSConfig:
        """`config` with `tokens` (none already in its vocabulary) appended to its vocabulary."""


class AppendTokens(VocabularyGrowth):
    """F5-TTS's tokenizer: its vocabulary is data (`TTSConfig.vocab`), so new tokens are appended to it."""

    def missing(self, tokenizer: Tokenizer, texts: Iterable[str]) -> list[str]:
        known = set(tokenizer.vocab[1:])
        needed: set[str] = set()
        for text in texts:
            needed.update(tokenizer.tokenize(tokenizer.normalize(text)))
        return sorted(needed - known)

    def grown(self, config: TTSConfig, tokens: Sequence[str]) -> TTSConfig:
        vocab = tuple(config.vocab or ()) + tuple(tokens)
        return dataclasses.replace(config, vocab=vocab,
                                   dit=dataclasses.replace(config.dit, text_vocab_size=len(vocab) + 1))


class FixedVocabulary(VocabularyGrowth):
    """The phone and character tokenizers: every letter that English normalisation can spell (accents are
    dropped: "é" is read as "e") is read; a letter it drops (another alphabet, "ß") cannot be learnt by this
    model."""

    def missing(self, tokenizer: Tokenizer, texts: Iterable[str]) -> list[str]:
        unreadable: dict[str, int] = {}
        letters: dict[str, bool] = {}
        for text in texts:
            for c in text:
                if not c.isalpha():
                    continue  # digits, marks and symbols: the normaliser reads or drops them as punctuation
                if c not in letters:
                    letters[c] = _readable(tokenizer, c)
                if not letters[c]:
                    unreadable[c] = unreadable.get(c, 0) + 1
        if unreadable:
            shown = " ".join(sorted(unreadable, key=lambda c: (-unreadable[c], c))[:40])
            raise VocabularyError(
                f"the model's {tokenizer.name!r} tokenizer has a fixed vocabulary (English, normalised) and cannot "
                f"be extended: {len(unreadable)} letter{'s' if len(unreadable) > 1 else ''} of the transcripts would "
                f"be dropped ({shown}). Fine-tune a "
                f"model with F5-TTS's tokenizer instead (e.g. --from F5TTS_v1_Base), whose vocabulary grows with "
                f"the data, or transliterate the transcripts")
        return []

    def grown(self, config: TTSConfig, tokens: Sequence[str]) -> TTSConfig:
        if tokens:
            raise VocabularyError(f"the {config.tokenizer!r} tokenizer has a fixed vocabulary: cannot add {list(tokens)}")
        return config


def _readable(tokenizer: Tokenizer, letter: str) -> bool:
    try:
        tokenizer.normalize(letter)
    except TextError:
        return False
    return True


GROWTH: dict[str, VocabularyGrowth] = {"f5": AppendTokens(), "phone": FixedVocabulary(), "char": FixedVocabulary()}


def growth_for(config: TTSConfig) -> VocabularyGrowth:
    """The growth strategy of a model's tokenizer."""
    if config.tokenizer not in GROWTH:
        raise VocabularyError(f"no vocabulary rule for the tokenizer {config.tokenizer!r}; known: {sorted(GROWTH)}")
    return GROWTH[config.tokenizer]


def missing_tokens(config: TTSConfig, texts: Iterable[str]) -> list[str]:
    """The tokens the raw transcripts `texts` need that the model of `config` lacks (see `VocabularyGrowth`)."""
    return growth_for(config).missing(build_tokenizer(config.tokenizer, config.vocab), texts)


def grow_vocabulary(model: TTSModel, tokens: Sequence[str], seed: int = GROWTH_SEED) -> TTSModel:
    """A new model: `model` with `tokens` appended to its vocabulary and one text-embedding row each.

    Every other weight and buffer, and the old rows, are copied unchanged; the new rows are drawn from
    N(0, 1) by a generator seeded `seed` (F5-TTS's rule). `tokens` must be new and distinct. The result
    records its vocabulary in its config, so it saves and loads like any model.
    """
    old = model.config.vocab or ()
    clash = sorted(set(tokens) & set(old)) or sorted({t for t in tokens if list(tokens).count(t) > 1})
    if clash:
        raise ValueError(f"tokens already in the vocabulary or given twice: {clash[:10]}")
    config = growth_for(model.config).grown(model.config, tokens)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rows = state[EMBEDDING_KEY]  # (V_old, text_dim)
    gen = torch.Generator().manual_seed(seed)
    new = torch.randn(len(tokens), rows.shape[1], generator=gen).to(rows.dtype)  # (V_new - V_old, text_dim)
    state[EMBEDDING_KEY] = torch.cat([rows, new.to(rows.device)])
    grown = TTSModel(config).to(rows.device)
    grown.load_state_dict(state, strict=True)
    return grown.train(model.training)
