"""The report's words in English and Portuguese: message catalogs looked up by key.

The report's own prose (title, introduction, notes, section chrome) lives in :data:`MESSAGES`; each figure
module keeps the texts of its figures in a :class:`Catalog` of its own, beside the code that draws them, so a
study's words travel with the study. Portuguese uses the course's terms: gradiente que desaparece (dissipação do
gradiente), gradiente que explode, ReLU agonizante, poda do gradiente, retropropagação através do tempo (BPTT).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "MESSAGES", "Catalog", "check_lang", "interval", "number", "study_text", "text"]

#: The languages the report is written in; the first is the default.
LANGUAGES: tuple[str, ...] = ("en", "pt")


def check_lang(lang: str) -> str:
    """Return ``lang`` if the report can be written in it.

    Raises:
        ValueError: naming the language received and the available ones.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"Unknown language {lang!r}. Available: {', '.join(LANGUAGES)}.")
    return lang


# English separators swapped for Portuguese ones: the decimal point becomes a comma, the thousands comma a point.
_PT_SEPARATORS = str.maketrans({".": ",", ",": "."})


def number(value, spec: str = "", lang: str = "en") -> str:
    """Return ``value`` formatted with ``spec`` as ``lang`` writes numbers: Portuguese with a decimal comma.

    A thousands separator in ``spec`` (",") is a point in Portuguese, where the comma is the decimal sign.
    NaN and None read "n/a" ("n/d" in Portuguese).

    Example:
        >>> number(0.125, ".2f", "pt"), number(1234.5, ".1e", "pt"), number(float("nan"), ".2f", "pt")
        ('0,12', '1,2e+03', 'n/d')
        >>> number(21000, ",", "pt"), number(1234.5, ",.1f", "pt"), number(1234.5, ",.1f")
        ('21.000', '1.234,5', '1,234.5')
    """
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):
        value = value.item()
    if value is None or (isinstance(value, float) and value != value):
        return "n/a" if check_lang(lang) == "en" else "n/d"
    text = format(value, spec)
    return text.translate(_PT_SEPARATORS) if check_lang(lang) == "pt" else text


def interval(low, high, spec: str = "", lang: str = "en") -> str:
    """Return the interval [low, high] as ``lang`` writes it: Portuguese separates its ends with a semicolon.

    A Portuguese decimal comma would make "[0,12, 0,5]" ambiguous, hence "[0,12; 0,5]".

    Example:
        >>> interval(0.125, 0.5, ".2f"), interval(0.125, 0.5, ".2f", "pt")
        ('[0.12, 0.50]', '[0,12; 0,50]')
    """
    separator = ", " if check_lang(lang) == "en" else "; "
    return f"[{number(low, spec, lang)}{separator}{number(high, spec, lang)}]"


class Catalog:
    """Messages by key, each with one template per language, filled with :meth:`str.format`.

    Args:
        messages: ``{key: {"en": template, "pt": template}}``; every key needs every language in
            :data:`LANGUAGES` (checked here, so a missing translation fails at import, not in a report).

    Raises:
        ValueError: if a message lacks a language.
    """

    def __init__(self, messages: Mapping[str, Mapping[str, str]]):
        for key, templates in messages.items():
            missing = [lang for lang in LANGUAGES if lang not in templates]
            if missing:
                raise ValueError(f"Message {key!r} has no {', '.join(missing)} text.")
        self.messages = dict(messages)

    def __call__(self, key: str, lang: str = "en", **values) -> str:
        """Return the message ``key`` in ``lang``, filled with ``values``.

        Raises:
            KeyError: if the catalog has no message ``key``.
            ValueError: if ``lang`` is not one of :data:`LANGUAGES`.
        """
        template = self.messages[key][check_lang(lang)]
        return template.format(**values) if values else template


MESSAGES = Catalog({
    "title": {"en": "gradtrace report", "pt": "Relatório do gradtrace"},
    "contents": {"en": "Contents", "pt": "Sumário"},
    "intro": {
        "en": "<p>Backpropagation through time multiplies the error, step after step, by the Jacobian "
              "∂h<sub>t</sub>/∂h<sub>t−1</sub> = diag(φ′(a<sub>t</sub>)) W<sub>rec</sub>. Over k steps that is a "
              "product of k such matrices: when W<sub>rec</sub> is small the product shrinks geometrically and the "
              "early steps stop learning (the <b>vanishing gradient</b>); when it is large the product can grow "
              "just as fast (the <b>exploding gradient</b>). gradtrace measured ‖∂L/∂h<sub>t</sub>‖ at every step "
              "t with one backward pass, for every seed of every ensemble below. A deep feed-forward network is "
              "the same product through depth, one factor diag(φ′(z<sub>l</sub>)) W<sub>l</sub> per layer, and "
              "σ′ ≤ 0.25: there gradtrace measured ‖∂L/∂h<sub>l</sub>‖ at every layer l.</p>",
        "pt": "<p>A retropropagação através do tempo (BPTT) multiplica o erro, passo a passo, pela jacobiana "
              "∂h<sub>t</sub>/∂h<sub>t−1</sub> = diag(φ′(a<sub>t</sub>)) W<sub>rec</sub>. Em k passos, isso é um "
              "produto de k dessas matrizes: quando W<sub>rec</sub> é pequena, o produto encolhe geometricamente "
              "e os primeiros passos deixam de aprender (o <b>gradiente que desaparece</b>, ou dissipação do "
              "gradiente); quando é grande, o produto pode crescer na mesma velocidade (o <b>gradiente que "
              "explode</b>). O gradtrace mediu ‖∂L/∂h<sub>t</sub>‖ em cada passo t com uma única passagem para "
              "trás, para cada semente de cada conjunto abaixo. Uma rede profunda sem recorrência é o mesmo "
              "produto ao longo da profundidade, um fator diag(φ′(z<sub>l</sub>)) W<sub>l</sub> por camada, com "
              "σ′ ≤ 0,25: ali o gradtrace mediu ‖∂L/∂h<sub>l</sub>‖ em cada camada l.</p>",
    },
    "damaged": {
        "en": "{count} run(s) of this study are damaged on disk and left out of its figures:",
        "pt": "{count} execução(ões) deste estudo estão danificadas no disco e ficaram fora das figuras:",
    },
    "unlisted_redo": {
        "en": "{count} of these runs lost their catalog rows, so running the study again will not redo them "
              "unasked: delete their arrays files to recompute just them, or restore catalog.sqlite.",
        "pt": "{count} dessas execuções perderam suas linhas no catálogo, então rodar o estudo de novo não as "
              "refaz sem pedir: apague os arquivos de arrays delas para recalcular só essas, ou restaure o "
              "catalog.sqlite.",
    },
    "damaged_redo": {
        "en": "Run the study again with the same output folder to redo exactly these runs.",
        "pt": "Rode o estudo de novo com a mesma pasta de saída para refazer exatamente essas execuções.",
    },
    "undrawable": {
        "en": "The figures of this study cannot be drawn from these runs: they lack {missing}, which the figures of "
              "this gradtrace read (the runs were probably written by an older version). Run `gradtrace run {study}` "
              "into a new folder to draw them.",
        "pt": "As figuras deste estudo não podem ser desenhadas a partir destas execuções: falta {missing}, que as "
              "figuras desta versão do gradtrace leem (as execuções provavelmente vêm de uma versão mais antiga). "
              "Rode `gradtrace run {study}` numa pasta nova para desenhá-las.",
    },
    "incomplete": {
        "en": "This study is incomplete: {finished} of {planned} runs finished (missing: {missing}). Run it again "
              "with the same output folder to finish it.",
        "pt": "Este estudo está incompleto: {finished} de {planned} execuções terminaram (faltam: {missing}). "
              "Rode-o de novo com a mesma pasta de saída para completá-lo.",
    },
    "claim.held": {"en": "✓ held", "pt": "✓ confirmada"},
    "overview": {"en": "{held} of {total} claims held in the data below.",
                 "pt": "{held} de {total} afirmações confirmadas pelos dados abaixo."},
    "overview.wall": {"en": "The run took {minutes} minutes.", "pt": "A execução levou {minutes} minutos."},
    "claims.count": {"en": "{held} of {total} claims held", "pt": "{held} de {total} afirmações confirmadas"},
    "claims.quick": {"en": " (quick mode: not meaningful)", "pt": " (modo rápido: sem significado)"},
    "claim.not_held": {"en": "✗ not held", "pt": "✗ não confirmada"},
    "quick": {
        "en": "Quick mode: tiny sizes and few steps, for a smoke test; the numbers are not meaningful.",
        "pt": "Modo rápido: tamanhos mínimos e poucos passos, só para um teste de fumaça; os números não têm "
              "significado.",
    },
    "budget.paper": {
        "en": "Paper budget: this study ran its paper's protocol as far as one core allows (--budget paper); its "
              "runs took {minutes} minutes of training.",
        "pt": "Orçamento do artigo: este estudo rodou o protocolo do seu artigo até onde um núcleo permite "
              "(--budget paper); suas execuções levaram {minutes} minutos de treino.",
    },
    "footnote": {
        "en": "{runs} runs; {seeds} seeds each; sizes: {sizes}; {steps}; {seconds} s of training.",
        "pt": "{runs} execuções; {seeds} sementes cada; tamanhos: {sizes}; {steps}; {seconds} s de treino.",
    },
    "steps": {"en": "{steps} training steps", "pt": "{steps} passos de treino"},
    "no_steps": {"en": "no training steps recorded", "pt": "nenhum passo de treino registrado"},
    "unknown": {"en": "?", "pt": "?"},
    "size.length": {"en": "length", "pt": "comprimento"},
    "size.hidden_size": {"en": "hidden units", "pt": "unidades ocultas"},
    "size.width": {"en": "width", "pt": "largura"},
    "size.depth": {"en": "depth", "pt": "profundidade"},
    "size.num_layers": {"en": "layers", "pt": "camadas"},
    "size.reservoir_size": {"en": "reservoir", "pt": "reservatório"},
    "size.batch_size": {"en": "batch", "pt": "lote"},
    "written": {
        "en": "gradtrace {version}, torch {torch}, Python {python}; written {now} from {root}.",
        "pt": "gradtrace {version}, torch {torch}, Python {python}; escrito em {now} a partir de {root}.",
    },
})


def text(key: str, lang: str = "en", **values) -> str:
    """Return the report's message ``key`` in ``lang``, filled with ``values``.

    Example:
        >>> text("incomplete", "pt", finished=1, planned=2, missing="a")[:24]
        'Este estudo está incompl'
    """
    return MESSAGES(key, lang, **values)


def study_text(name: str, title: str, description: str, lang: str = "en") -> tuple[str, str]:
    """Return the title and description of a study that has no ``text`` of its own: the English ones, in any ``lang``.

    Every built-in study carries its words in each language (``Study.text``); a study defined elsewhere may not.
    """
    check_lang(lang)
    return title, description
