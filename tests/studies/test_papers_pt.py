"""The studies outside the course (activations, long-range and the classic papers) in Portuguese.

Each study's quick run is drawn in both languages: every Portuguese caption, title, table and visible figure text
must be Portuguese (no English word left outside a quoted paper title) and write its decimals with a comma.
Figures are not rendered to PNG here (the text is what is checked), which keeps the module to seconds.
"""

import re

import matplotlib.figure
import matplotlib.text
import pytest

from gradtrace.store import Store
from gradtrace.studies import STUDIES, get_study, run_study
from gradtrace.studies.registry import figures_module

NAMES = ("activations", "long-range", "bengio1994", "hochreiter1997", "le2015", "glorot2010", "jaeger2001",
         "pascanu2013")

# Words that only English writes; paper titles in quotes are left out before looking for them.
_ENGLISH = re.compile(
    r"\b(the|of|and|with|seeds?|training|trained|layers?|published|ours|baseline|length|fraction|held-out|"
    r"steps?|updates?|sequences?|after|before|against|where|which|not|from|each|per|Figure|Table|Section|"
    r"solved|budget|deviations?)\b", re.IGNORECASE)
_QUOTED = re.compile(r'"[^"]*"')
# A Portuguese thousands group ("21.000", "5.000.000") is the one place a point may stand between digits.
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?!\d|[.,]\d)")
_DECIMAL_POINT = re.compile(r"\d\.\d")
# Section numbers ("Seção 4.1.1", "Seções 6.3.1 e 6.3.3") and arXiv identifiers are not decimals.
_IDENTIFIERS = re.compile(r"Seç(?:ão|ões) \d+(?:\.\d+)*(?:(?:, | e )\d+(?:\.\d+)*)*|arXiv:\d+\.\d+")


def _english_words(text: str) -> list[str]:
    return _ENGLISH.findall(_QUOTED.sub("", text))


def _decimal_points(text: str) -> list[str]:
    return _DECIMAL_POINT.findall(_THOUSANDS.sub("", _IDENTIFIERS.sub("", text)))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("papers_pt"))
    for name in NAMES:
        run_study(get_study(name), store, quick=True, seeds=2, workers=1)
    return store


@pytest.fixture(scope="module")
def drawn(store):
    """Each study's figures, tables and visible figure texts (tick labels left out), in both languages."""
    texts = []

    def savefig(figure, buffer, *args, **kwargs):
        texts.extend(t.get_text() for t in figure.findobj(matplotlib.text.Text)
                     if t.get_visible() and re.search(r"[^\W\d_]{2}", t.get_text()))

    patch = pytest.MonkeyPatch()
    patch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    try:
        result = {}
        for name in NAMES:
            for lang in ("en", "pt"):
                texts.clear()
                figures, tables = figures_module(STUDIES[name]).draw(store, lang=lang)
                result[name, lang] = figures, tables, list(texts)
        return result
    finally:
        patch.undo()


@pytest.mark.parametrize("name", NAMES)
def test_every_caption_and_title_is_portuguese(drawn, name):
    (figures_en, tables_en, _), (figures, tables, _) = drawn[name, "en"], drawn[name, "pt"]
    assert figures and tables and len(figures) == len(figures_en) and len(tables) == len(tables_en)
    for english, portuguese in zip(figures_en + tables_en, figures + tables):
        assert portuguese.title != english.title and portuguese.caption != english.caption
        for text in (portuguese.title, portuguese.caption):
            assert not _english_words(text), (name, _english_words(text), text)
            assert not _decimal_points(text), (name, text)


@pytest.mark.parametrize("name", NAMES)
def test_every_text_drawn_in_a_figure_is_portuguese(drawn, name):
    _, _, texts = drawn[name, "pt"]
    assert texts
    for text in texts:
        assert not _english_words(text), (name, text)
        assert not _decimal_points(text), (name, text)


@pytest.mark.parametrize("name", NAMES)
def test_tables_are_portuguese_with_decimal_commas(drawn, name):
    _, tables, _ = drawn[name, "pt"]
    cells = [cell for table in tables for row in table.rows for cell in row]
    assert cells and any(re.search(r"\d,\d", cell) for cell in cells)
    for text in cells + [column for table in tables for column in table.columns]:
        assert not _english_words(text), (name, text)
        assert not _decimal_points(text), (name, text)


@pytest.mark.parametrize("name", NAMES)
def test_the_study_asks_its_question_in_both_languages(name):
    study = STUDIES[name]()
    for key in ("title", "question", "description"):
        english, portuguese = study.words(key, "en"), study.words(key, "pt")
        assert english and portuguese and english != portuguese
        assert not _english_words(portuguese), (name, key, portuguese)
    assert study.words("title", "en") == study.title and study.words("description", "en") == study.description
    assert study.words("question", "en").endswith("?") and study.words("question", "pt").endswith("?")


def test_the_checks_catch_english_and_decimal_points_but_not_titles_thousands_or_sections():
    assert _english_words("Loss of the seeds after training") == ["of", "the", "seeds", "after", "training"]
    assert not _english_words('Fonte: Hochreiter & Schmidhuber 1997, "Long short-term memory of the past"')
    assert _decimal_points("perda 0.25") and not _decimal_points("perda 0,25 em 10.000 passos.")
    assert not _decimal_points("Seções 6.3.1 e 6.3.3; arXiv:1211.5063; 5.000.000 atualizações")
