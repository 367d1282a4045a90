"""Answers: the question checked, passages retrieved, sentences quoted verbatim with citations, twins, JSON."""

import json
import math

import pytest

from gradtrace.ask.answer import MAX_QUESTION_CHARS, Answer, ask, build_index, check_question
from gradtrace.ask.command import answer_text
from gradtrace.ask.corpus import CorpusError, Passage
from gradtrace.ask.retrieval import Index

pytest.importorskip("bm25s")  # the ask extra
pytest.importorskip("Stemmer")


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    (root / "rnn.md").write_text(
        "# Vanishing gradients\n\nThe gradient vanishes when the recurrent weights are small. Each step back in "
        "time multiplies it by a Jacobian. After fifty steps almost nothing is left.\n\n"
        "# Exploding gradients\n\nThe gradient explodes when the spectral radius is above one. Clipping caps "
        "its norm.\n", encoding="utf-8")
    (root / "aula.txt").write_text(
        "[00:10:00] As portas da LSTM deixam o gradiente passar.\n[00:10:30] Por isso ela lembra por mais "
        "tempo.\n", encoding="utf-8")
    (root / "slides.pdf").write_bytes(b"%PDF")
    return root


@pytest.fixture
def index(corpus):
    index, skipped = build_index([corpus], retrieval="bm25", guide=False)
    assert skipped == [f"{corpus}/slides.pdf (not .md, .markdown, .txt, .srt, .vtt)"]
    return index


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_an_empty_question_is_refused(question):
    with pytest.raises(ValueError, match="The question is empty"):
        check_question(question)


def test_a_huge_question_is_refused_with_the_limit():
    with pytest.raises(ValueError, match=rf"has 100,000 characters; at most {MAX_QUESTION_CHARS:,} are taken"):
        check_question("x" * 100_000)
    assert check_question("x" * MAX_QUESTION_CHARS) == "x" * MAX_QUESTION_CHARS
    assert check_question("  why   does it\nvanish? ") == "why does it vanish?"


@pytest.mark.parametrize("question", [None, 42, b"why?", ["why?"]])
def test_a_question_that_is_not_text_is_refused(question):
    with pytest.raises(TypeError, match="The question must be text, got"):
        check_question(question)


def test_ask_checks_the_question_and_k(index):
    with pytest.raises(ValueError, match="empty"):
        ask(" ", index)
    with pytest.raises(ValueError, match="characters"):
        ask("why " * 25_000, index)
    for k in (0, -1, 51):
        with pytest.raises(ValueError, match="`k`"):
            ask("gradient", index, k=k)
    for k in ("3", 2.0, True, None):
        with pytest.raises(TypeError, match="`k`"):
            ask("gradient", index, k=k)


def test_the_answer_quotes_the_retrieved_passages_and_cites_them(index):
    answer = ask("Why does the gradient vanish when the weights are small?", index, k=3)
    assert isinstance(answer, Answer) and answer.lang == "en"
    assert answer.hits[0].passage.position == "Vanishing gradients"
    assert [h.rank for h in answer.hits] == list(range(1, len(answer.hits) + 1))
    assert 1 <= len(answer.sentences) <= 3
    for sentence, number in answer.sentences:
        assert 1 <= number <= len(answer.hits)
        assert sentence in answer.hits[number - 1].passage.text  # verbatim, nothing generated
        assert f"{sentence} [{number}]" in answer.text
    assert answer.sentences[0] == ("The gradient vanishes when the recurrent weights are small.", 1)
    assert answer.study == "" and answer.command == "" and answer.twins == {}
    assert answer.seconds >= 0 and answer.retrieval == index.mode


def test_a_portuguese_question_on_portuguese_notes(index):
    answer = ask("Por que a LSTM lembra por mais tempo?", index, k=2)
    assert answer.lang == "pt"
    assert answer.hits[0].passage.source == "aula.txt" and answer.hits[0].passage.position == "00:10:00–00:10:30"
    assert ("Por isso ela lembra por mais tempo.", 1) in answer.sentences


def test_no_shared_word_with_bm25_alone_is_said(index):
    answer = ask("Qual é a capital da França?", index)
    assert answer.hits == [] and answer.sentences == [] and answer.text == ""
    assert "no passage shares a word with the question" in answer_text(answer)
    json.dumps(answer.to_dict(), allow_nan=False)


def test_the_json_shape(index):
    answer = ask("How does clipping cap the gradient norm?", index, k=2)
    data = json.loads(json.dumps(answer.to_dict(), ensure_ascii=False, allow_nan=False))
    assert set(data) == {"question", "lang", "retrieval", "answer", "sentences", "passages", "study", "command",
                         "seconds", "notes"}
    assert data["question"] == "How does clipping cap the gradient norm?" and data["answer"] == answer.text
    assert data["sentences"] == [{"text": s, "passage": n} for s, n in answer.sentences]
    assert [p["rank"] for p in data["passages"]] == [1, 2][:len(data["passages"])]
    first = data["passages"][0]
    assert first["source"] == "rnn.md" and first["position"] == "Exploding gradients" and first["e5"] is None
    assert first["twin"] is None and first["concept"] == "" and math.isfinite(first["score"])


def test_hybrid_answer_is_json_with_e5_scores(corpus):
    index, _ = build_index([corpus], retrieval="hybrid", guide=False)
    answer = ask("Por que o gradiente explode?", index, k=2)
    data = json.loads(json.dumps(answer.to_dict(), allow_nan=False))
    assert all(isinstance(p["e5"], float) and -1 <= p["e5"] <= 1 for p in data["passages"])
    assert data["retrieval"] == "hybrid (BM25 + E5)"
    assert "E5 " in answer_text(answer)


def test_several_folders_and_a_bad_one(corpus, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "n.txt").write_text("Dropout zeroes units.", encoding="utf-8")
    index, _ = build_index([corpus, other], retrieval="bm25", guide=False)
    assert {p.source for p in index.passages} == {"rnn.md", "aula.txt", "n.txt"}
    with pytest.raises(CorpusError, match="does not exist"):
        build_index([corpus, tmp_path / "missing"], retrieval="bm25", guide=False)


GUIDE = [  # two concepts of a made-up guide, in both languages: guide passages have twins
    Passage("guide:en:vanishing", "The gradient vanishes through time. Gates let it pass.", "gradtrace guide (en)",
            "Vanishing gradients", "en", "vanishing", "through-time", "Figure 1"),
    Passage("guide:pt:vanishing", "O gradiente some ao longo do tempo. As portas o deixam passar.",
            "gradtrace guide (pt)", "Gradiente que some", "pt", "vanishing", "through-time", "Figura 1"),
    Passage("guide:en:clipping", "Clipping caps the norm of the gradient.", "gradtrace guide (en)", "Clipping", "en",
            "clipping", "clipping", ""),
    Passage("guide:pt:clipping", "O clipping limita a norma do gradiente.", "gradtrace guide (pt)", "Clipping",
            "pt", "clipping", "clipping", ""),
]


def test_guide_passages_count_once_with_their_twin_and_speak_the_question_language():
    index = Index(GUIDE, retrieval="bm25")
    answer = ask("Why does the gradient vanish through time?", index, k=5)
    concepts = [h.passage.concept for h in answer.hits]
    assert concepts[0] == "vanishing" and len(concepts) == len(set(concepts))  # a concept once, not per language
    assert answer.hits[0].passage.lang == "en" and answer.twins[1].key == "guide:pt:vanishing"
    assert answer.study == "through-time" and answer.command == "gradtrace run through-time"
    assert answer.to_dict()["passages"][0]["twin"] == "guide:pt:vanishing"
    text = answer_text(answer)
    assert "also in Portuguese: “Gradiente que some” (guide:pt:vanishing)" in text
    assert "See it measured: gradtrace run through-time" in text
    # a Portuguese question that finds an English section is shown its Portuguese twin in its place, and
    # every quoted sentence is in the very passage its citation names
    english_only = Index([GUIDE[0], GUIDE[1]], retrieval="bm25")
    answer = ask("o gradient vanishes?", english_only, k=1)
    assert answer.lang == "pt" and answer.hits[0].passage.lang == "pt" and answer.twins[1].lang == "en"
    assert all(s in GUIDE[1].text and s in answer.hits[n - 1].passage.text for s, n in answer.sentences)
