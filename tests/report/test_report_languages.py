"""The report in English and Portuguese, its table of contents, unbroken numbers and legible figures."""

import html
import io
import re
import struct

import matplotlib.figure
import matplotlib.text
import pytest

from gradtrace.report import write_report
from gradtrace.report.figures import MIN_FONT_PX, REPORT_WIDTH_PX
from gradtrace.report.i18n import LANGUAGES, MESSAGES, Catalog, study_text, text
from gradtrace.store import Store
from gradtrace.studies import STUDIES, get_study, run_study
from gradtrace.studies.registry import figures_module

# The default run's studies (through-depth at the suite's smoke size, see conftest) and exploding.
STUDIED = ("through-time", "exploding", "vanishing", "through-depth", "long-range")  # the report's order


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("languages"))
    for name in STUDIED:
        run_study(get_study(name), store, quick=True, seeds=2, workers=1)
    return store


@pytest.fixture(scope="module")
def documents(store):
    return {lang: write_report(store, store.root / f"report-{lang}.html", lang=lang).read_text(encoding="utf-8")
            for lang in LANGUAGES}


def test_the_portuguese_report_says_so_and_titles_its_sections_in_portuguese(documents):
    document = documents["pt"]
    assert '<html lang="pt">' in document and "<h1>Relatório do gradtrace</h1>" in document
    for number, name in enumerate(STUDIED, 1):
        study = STUDIES[name]()
        title, description = ((study.words("title", "pt"), study.words("description", "pt")) if study.text
                              else study_text(name, study.title, study.description, "pt"))
        assert title != study.title
        assert f"<h2>{number}. {html.escape(title)}</h2>" in document and html.escape(description) in document
    assert "gradiente que desaparece" in document and "Modo rápido" in document
    assert "O gradiente que explode e suas curas" in document
    assert '<html lang="en">' in documents["en"] and "<h1>gradtrace report</h1>" in documents["en"]


def test_an_unknown_language_is_refused_naming_the_available_ones(store):
    with pytest.raises(ValueError, match=r"Unknown language 'fr'\. Available: en, pt\."):
        write_report(store, lang="fr")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_table_of_contents_links_every_section_by_its_id(documents, lang):
    document = documents[lang]
    toc = re.search(r'<nav class="toc">(.*?)</nav>', document, re.DOTALL).group(1)
    links = re.findall(r'href="#([^"]+)"', toc)
    ids = re.findall(r'<section id="([^"]+)"', document)
    assert links == ids == list(STUDIED)
    assert document.index('<nav class="toc">') < document.index("<section")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_section_ends_with_its_sizes_seeds_steps_and_seconds(documents, lang):
    footnotes = re.findall(r'<p class="meta footnote">(.*?)</p></section>', documents[lang])
    assert len(footnotes) == len(STUDIED)
    seeds, steps = ("seeds each", "training steps") if lang == "en" else ("sementes cada", "passos de treino")
    for footnote in footnotes:
        assert f"2 {seeds}" in footnote and steps in footnote and re.search(r"\d+ s\b", footnote)


def test_numbers_in_tables_never_break(documents):
    document = documents["en"]
    assert re.search(r"td \.n[^{]*\{[^}]*white-space: nowrap", document)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", document)
    assert cells
    for cell in cells:
        # Outside the unbreakable spans only words and spaces remain: no digit a browser could split.
        assert not re.search(r"\d", html.unescape(re.sub(r'<span class="n">[^<]*</span>', "", cell))), cell


def test_no_python_repr_in_the_report(documents):
    for document in documents.values():
        assert not re.search(r"\w+\(\w+=", document)   # a dataclass repr: adding(length=100, ...)
        assert "{'" not in document and "['" not in document


def test_every_message_has_every_language():
    for key in MESSAGES.messages:
        assert all(text(key, lang, count=1, finished=1, planned=1, missing="", runs=1, seeds=1, sizes="",
                        steps="", seconds=1, version="", torch="", python="", now="", root="", held=1, total=1,
                        minutes="1", study="x")
                   for lang in LANGUAGES)
    with pytest.raises(ValueError, match="'greeting' has no pt text"):
        Catalog({"greeting": {"en": "hello"}})


def _smallest_text_px(monkeypatch) -> list:
    """Record, for every figure saved, its smallest text in CSS pixels once shown at the report's width."""
    found = []
    save = matplotlib.figure.Figure.savefig

    def savefig(figure, buffer, *args, **kwargs):
        save(figure, buffer, *args, **kwargs)
        assert isinstance(buffer, io.BytesIO)
        png = buffer.getvalue()
        width = struct.unpack(">I", png[16:20])[0]       # the IHDR chunk: width, then height
        # An image wider than the page is scaled down to it; a narrower one is shown at its own size.
        scale = min(1.0, REPORT_WIDTH_PX / width)
        texts = [t for t in figure.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
        smallest = min(texts, key=lambda t: t.get_fontsize())
        found.append((smallest.get_fontsize() * kwargs["dpi"] / 72 * scale, smallest.get_text()))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", STUDIED)
def test_figure_text_is_at_least_10_px_at_the_report_width(store, monkeypatch, name, lang):
    found = _smallest_text_px(monkeypatch)
    figures, _ = figures_module(STUDIES[name]).draw(store, lang=lang)
    assert figures and len(found) == len(figures)
    assert MIN_FONT_PX == 10
    for px, words in found:
        assert px >= MIN_FONT_PX, (name, words, px)



def test_portuguese_tick_labels_keep_their_numbers_with_a_decimal_comma():
    # Regression: a FuncFormatter around the axis's ScalarFormatter never passed it the tick locations, and
    # every Portuguese tick label came out empty.
    from gradtrace.report.figures import _comma_ticks

    ax = matplotlib.figure.Figure().add_subplot()
    ax.plot([0.0, 1.0], [0.0, 0.5])
    _comma_ticks(ax)
    labels = ax.yaxis.get_major_formatter().format_ticks(ax.get_yticks())
    assert "0,5" in labels and all(labels)


def test_every_study_draws_with_the_one_palette():
    # A private hex colour in a study's figures is a second palette: colours must come from the kit.
    import pathlib

    import gradtrace.studies

    root = pathlib.Path(gradtrace.studies.__file__).parent
    private = {str(path.relative_to(root)): found for path in sorted(root.glob("*/figures.py"))
               if (found := re.findall(r"['\"]#[0-9a-fA-F]{6}['\"]", path.read_text(encoding="utf-8")))}
    assert private == {}
