"""What ``gradtrace ask`` prints: an answer with its passages, or the evaluation's table, as plain text."""

from __future__ import annotations

import textwrap

from gradtrace.ask.answer import Answer

__all__ = ["answer_text"]

_WIDTH = 80
_LANGUAGE = {"pt": "Portuguese", "en": "English"}


def _wrap(text: str, indent: int, first: str = "") -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=first or " " * indent, subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)


def _clip(text: str, words: int = 55) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def answer_text(answer: Answer) -> str:
    """The answer, its passages with source, position and scores, and the study that shows it."""
    lines = [*_wrap(answer.question, 4, "Q:  "), f"    ({_LANGUAGE.get(answer.lang, answer.lang)}; retrieval: "
             f"{answer.retrieval})", ""]
    if answer.sentences:
        lines += _wrap(answer.text, 4, "A:  ")
    else:
        lines.append("A:  no passage shares a word with the question; try other words.")
    lines += ["", "Passages:"]
    for hit in answer.hits:
        passage = hit.passage
        scores = f"score {hit.score:.3g}, BM25 {hit.bm25:.3g}" + (f", E5 {hit.dense:.3f}" if hit.dense is not None
                                                                 else "")
        lines += _wrap(f"{passage.source} · {passage.position} · {scores}", 6, f"  [{hit.rank}] ")
        lines += _wrap(_clip(passage.text), 6)
        twin = answer.twins.get(hit.rank)
        if twin is not None:
            lines += _wrap(f"also in {_LANGUAGE[twin.lang]}: “{twin.position}” ({twin.key})", 6)
    if answer.study:
        lines += ["", *_wrap(f"See it measured: gradtrace run {answer.study} (or add --show to run it now).", 0)]
    lines += [f"note: {note}" for note in answer.notes]
    return "\n".join(lines)
