"""``ask``: answer a question from the guide and the user's material, extractively, with citations.

The answer is made of the retrieved passages' own sentences, the ones closest to the question, each
followed by the number of the passage it comes from; nothing is generated. Where the best passage is a
concept of the course, the answer offers the built-in study that demonstrates it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from gradtrace.ask.corpus import Passage, load_folder, load_guide, split_sentences
from gradtrace.ask.retrieval import Hit, Index, detect_language, tokenize
from gradtrace.errors import check_int

__all__ = ["MAX_QUESTION_CHARS", "Answer", "ask", "build_index"]

#: A question longer than this is refused: it is a document, not a question.
MAX_QUESTION_CHARS = 2000
#: Sentences in an extractive answer.
ANSWER_SENTENCES = 3


@dataclass
class Answer:
    """What ``ask`` found: the passages, the answer made of their sentences, and the study to run.

    Attributes:
        question: as asked.
        lang: the question's language (``"pt"`` or ``"en"``).
        hits: the passages, best first, with their scores.
        sentences: (sentence, number of the hit it comes from, starting at 1).
        study: the built-in study that demonstrates the best passage's concept, or "".
        retrieval: which retrieval ran.
        twins: for a guide passage, its section in the other language (hit number → passage).
        seconds: the time to answer (index ready).
    """

    question: str
    lang: str
    hits: list[Hit]
    sentences: list[tuple[str, int]]
    study: str
    retrieval: str
    twins: dict[int, Passage] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The answer as one paragraph with [n] citations."""
        return " ".join(f"{sentence} [{number}]" for sentence, number in self.sentences)

    @property
    def command(self) -> str:
        return f"gradtrace run {self.study}" if self.study else ""

    def to_dict(self) -> dict:
        return {
            "question": self.question, "lang": self.lang, "retrieval": self.retrieval, "answer": self.text,
            "sentences": [{"text": s, "passage": n} for s, n in self.sentences],
            "passages": [{"rank": h.rank, "score": h.score, "bm25": h.bm25, "e5": h.dense, "source": h.passage.source,
                          "position": h.passage.position, "concept": h.passage.concept, "lang": h.passage.lang,
                          "text": h.passage.text,
                          "twin": self.twins[h.rank].key if h.rank in self.twins else None} for h in self.hits],
            "study": self.study, "command": self.command, "seconds": self.seconds, "notes": list(self.notes),
        }


def build_index(corpus: list[str | Path] = (), *, retrieval: str = "auto", cache: bool = True,
                guide: bool = True) -> tuple[Index, list[str]]:
    """The index of the guide (both languages) and every folder in ``corpus``; return it and the skipped files."""
    passages: list[Passage] = []
    if guide:
        passages += load_guide("en") + load_guide("pt")
    skipped: list[str] = []
    for folder in corpus:
        found, missed = load_folder(folder)
        passages += found
        skipped += [f"{folder}/{name}" for name in missed]
    return Index(passages, retrieval=retrieval, cache=cache), skipped


def check_question(question: object) -> str:
    """Return the question stripped; raise ``ValueError``/``TypeError`` for an empty or huge one."""
    if not isinstance(question, str):
        raise TypeError(f"The question must be text, got {type(question).__name__}.")
    stripped = " ".join(question.split())
    if not stripped:
        raise ValueError("The question is empty: ask something, e.g. gradtrace ask \"Why does the gradient vanish?\"")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise ValueError(f"The question has {len(stripped):,} characters; at most {MAX_QUESTION_CHARS:,} are taken. "
                         "Ask about one thing at a time.")
    return stripped


def ask(question: str, index: Index, *, k: int = 5) -> Answer:
    """Answer ``question`` from ``index``: the ``k`` best passages and an extractive answer citing them.

    Example:
        >>> index, _ = build_index(retrieval="bm25", cache=False)
        >>> answer = ask("Why does the gradient vanish over many time steps?", index)
        >>> answer.study
        'through-time'
    """
    question = check_question(question)
    k = check_int("k", k, minimum=1, maximum=50)
    started = time.perf_counter()
    lang = detect_language(question)
    # more candidates than shown: a guide section and its twin in the other language count once
    hits = _in_language(_distinct(index.search(question, k=3 * k), k), index.passages, lang)
    twins = _twins(hits, index.passages)
    sentences = _sentences(question, hits, index)
    # a study is offered for an answer the material gave, not for a question it has no words for
    best = next((h.passage for h in hits if h.passage.study), None) if sentences else None
    answer = Answer(question, lang, hits, sentences, best.study if best else "", index.mode, twins,
                    notes=list(index.notes))
    answer.seconds = time.perf_counter() - started
    return answer


def _distinct(hits: list[Hit], k: int) -> list[Hit]:
    seen, kept = set(), []
    for hit in hits:
        key = hit.passage.concept or hit.passage.key
        if key in seen:
            continue
        seen.add(key)
        kept.append(Hit(hit.passage, hit.score, hit.bm25, hit.dense, len(kept) + 1))
        if len(kept) == k:
            break
    return kept


def _in_language(hits: list[Hit], passages: list[Passage], lang: str) -> list[Hit]:
    """Show a guide section in the question's language: its twin takes its place, with its scores."""
    by_concept = {(p.concept, p.lang): p for p in passages if p.concept}
    return [Hit(by_concept.get((h.passage.concept, lang), h.passage) if h.passage.concept else h.passage,
                h.score, h.bm25, h.dense, h.rank) for h in hits]


def _twins(hits: list[Hit], passages: list[Passage]) -> dict[int, Passage]:
    by_concept = {(p.concept, p.lang): p for p in passages if p.concept}
    twins = {}
    for hit in hits:
        if hit.passage.concept:
            other = "pt" if hit.passage.lang == "en" else "en"
            twin = by_concept.get((hit.passage.concept, other))
            if twin is not None:
                twins[hit.rank] = twin
    return twins


def _sentences(question: str, hits: list[Hit], index: Index) -> list[tuple[str, int]]:
    """The sentences of the best passages that share the question's rarest stemmed words.

    A sentence that shares none is no part of an answer. Ties go to the better-ranked passage, then to the
    earlier sentence; each sentence cites the hit it is quoted from.
    """
    asked = set(tokenize(question, ("en", "pt"), index.stemmers))
    candidates = []
    for hit in hits[:3]:
        passage = hit.passage
        for order, sentence in enumerate(split_sentences(passage.text)):
            words = set(tokenize(sentence, (passage.lang,) if passage.lang else ("en", "pt"), index.stemmers))
            # the question's rare words count most; a long sentence does not win by length; the best
            # passage's sentences come first at equal weight
            weight = sum(index.idf(w) for w in asked & words) / math.sqrt(len(words) + 1) / hit.rank ** 0.5
            if weight > 0:
                candidates.append((-weight, hit.rank, order, sentence))
    chosen = sorted(candidates)[:ANSWER_SENTENCES]
    # in reading order: by passage, then by place in it
    return [(sentence, rank) for _, rank, _, sentence in sorted(chosen, key=lambda c: (c[1], c[2]))]
