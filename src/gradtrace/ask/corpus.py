"""The passages ``gradtrace ask`` retrieves from: the course guide, and any folder of the user's material.

The guide (``guide/en.md`` and ``guide/pt.md``) has one section per concept of ``concepts.toml``, in
both languages under the same id, so a passage always has its twin in the other language. A user's
folder may hold Markdown (split at headings, then paragraphs), plain text (paragraphs), and lecture
transcripts with timestamps: SubRip/WebVTT cues, lines that start with ``[hh:mm:ss]``, or the blocks of
a retrieval log (``*Início:* 01:32:59`` ... ``*Transcrição:* ...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib

from gradtrace.errors import GradtraceError

__all__ = ["CorpusError", "Passage", "concepts", "load_folder", "load_guide", "split_sentences"]

#: Files read from a user's folder; anything else is listed as skipped.
SUFFIXES = (".md", ".markdown", ".txt", ".srt", ".vtt")
#: A passage longer than this many words is cut into pieces, so one passage answers one thing.
MAX_WORDS = 220
#: Larger files are refused rather than read whole: this is a course folder, not a data set.
MAX_FILE_BYTES = 20_000_000


class CorpusError(GradtraceError, ValueError):
    """A corpus folder that does not exist, or holds no readable text."""


@dataclass(frozen=True)
class Passage:
    """One retrievable piece of text and where it comes from.

    Attributes:
        key: unique within the corpus: ``"guide:en:lstm"``, ``"notes/rnn.md#3"``.
        text: the passage.
        source: the file (or ``"gradtrace guide (en)"``).
        position: where in the source: a section title, a paragraph number, or ``"01:32:59–01:34:35"``.
        lang: ``"en"``, ``"pt"``, or ``""`` when unknown (a user's file).
        concept: the guide's concept id, else ``""``.
        study: the built-in study that demonstrates the concept, else ``""``.
        figure: the figure in that study's report section, else ``""``.
    """

    key: str
    text: str
    source: str
    position: str
    lang: str = ""
    concept: str = ""
    study: str = ""
    figure: str = ""


def concepts() -> dict[str, dict]:
    """The course's concepts: id → {"study", "covers"}."""
    text = resources.files("gradtrace.ask").joinpath("concepts.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


_SECTION = re.compile(r"^## (?P<title>.+?)\s*\{#(?P<id>[a-z0-9-]+)\}\s*$", re.MULTILINE)
_STUDY = re.compile(r"^(?:Study|Estudo):\s*`gradtrace run (?P<study>[a-z0-9-]+)`\.?\s*(?:(?:Figure|Figura):\s*"
                    r"(?P<figure>.+?))?\s*$", re.MULTILINE)


def load_guide(lang: str) -> list[Passage]:
    """The guide's sections in ``lang`` (``"en"`` or ``"pt"``), one passage each."""
    text = resources.files("gradtrace.ask").joinpath("guide", f"{lang}.md").read_text(encoding="utf-8")
    known = concepts()
    matches = list(_SECTION.finditer(text))
    passages = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end():end].strip()
        study_line = _STUDY.search(body)
        figure = ""
        if study_line:
            figure = (study_line.group("figure") or "").strip().rstrip(".")
            body = (body[:study_line.start()] + body[study_line.end():]).strip()
        concept = match.group("id")
        study = known.get(concept, {}).get("study", study_line.group("study") if study_line else "")
        passages.append(Passage(f"guide:{lang}:{concept}", " ".join(body.split()), f"gradtrace guide ({lang})",
                                match.group("title").strip(), lang, concept, study, figure))
    return passages


#: Abbreviations whose period ends no sentence.
_ABBREVIATIONS = ("et al.", "e.g.", "i.e.", "Fig.", "fig.", "Eq.", "eq.", "Dr.", "vs.", "cf.", "p. ex.", "Sr.", "Sra.")


def split_sentences(text: str) -> list[str]:
    """Split a passage into sentences at . ! ? followed by a space and a capital or a quote.

    A period after an abbreviation ("Cho et al. (2014)", "Fig. 3") or before a number or a parenthesis
    ends no sentence.

    Example:
        >>> split_sentences("The GRU of Cho et al. (2014) has two gates. It is smaller.")
        ['The GRU of Cho et al. (2014) has two gates.', 'It is smaller.']
    """
    guarded = text.strip()
    for abbreviation in _ABBREVIATIONS:
        guarded = guarded.replace(abbreviation, abbreviation.replace(".", "\x00"))
    parts = re.split(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÂÊÔÃÕÇ\"'“])", guarded)
    return [p.replace("\x00", ".").strip() for p in parts if p.strip()]


def load_folder(folder: str | Path) -> tuple[list[Passage], list[str]]:
    """Read every text file under ``folder``; return its passages and the files skipped (with why).

    Raises:
        CorpusError: the folder does not exist or is not a folder, or no file in it holds readable text.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise CorpusError(f"`--corpus` {str(folder)!r} does not exist. Expected a folder of Markdown, text or "
                          "transcript files.")
    if not root.is_dir():
        raise CorpusError(f"`--corpus` {str(folder)!r} is a file, not a folder. Expected a folder of Markdown, text "
                          "or transcript files.")
    passages: list[Passage] = []
    skipped: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = str(path.relative_to(root))
        if path.suffix.lower() not in SUFFIXES:
            skipped.append(f"{relative} (not {', '.join(SUFFIXES)})")
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            skipped.append(f"{relative} (over {MAX_FILE_BYTES // 1_000_000} MB)")
            continue
        try:
            raw = path.read_bytes()
        except OSError as error:  # no permission, a broken link: say so and read the rest
            skipped.append(f"{relative} (unreadable: {error.strerror or error})")
            continue
        if b"\x00" in raw[:8192]:
            skipped.append(f"{relative} (binary)")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # old transcripts: every byte is some character, never an error
        found = _passages(text, relative, path.suffix.lower())
        if not found:
            skipped.append(f"{relative} (no text)")
        passages.extend(found)
    if not passages:
        listed = f" Skipped: {'; '.join(skipped[:5])}{' …' if len(skipped) > 5 else ''}." if skipped else ""
        raise CorpusError(f"`--corpus` {str(folder)!r} holds no readable text.{listed} Expected Markdown (.md), text "
                          "(.txt) or transcripts (.srt, .vtt).")
    return passages, skipped


_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
_CUE = re.compile(rf"(?P<start>{_TIME})\s*-->\s*(?P<end>{_TIME})")
_CUE_LINE = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}", re.MULTILINE)  # a cue's own line, not a mention
_BRACKET = re.compile(rf"^\s*\[(?P<start>{_TIME})\]\s*(?P<text>.*)$")
_LOG_BLOCK = re.compile(rf"\*In[íi]cio:\*\s*(?P<start>{_TIME}).*?\*Fim:\*\s*(?P<end>{_TIME}).*?"
                        r"\*Transcri[çc][ãa]o:\*\s*(?P<text>.+?)(?=\n\s*-\s*\*|\n\*\*|\Z)", re.DOTALL)


def _passages(text: str, source: str, suffix: str) -> list[Passage]:
    if suffix in (".srt", ".vtt") or len(_CUE_LINE.findall(text)) >= 2:
        pieces = _cues(text)
    elif _LOG_BLOCK.search(text):
        pieces = [(f"{m['start']}–{m['end']}", " ".join(m["text"].split())) for m in _LOG_BLOCK.finditer(text)]
    elif sum(bool(_BRACKET.match(line)) for line in text.splitlines()) >= 2:
        pieces = _bracketed(text)
    elif suffix in (".md", ".markdown"):
        pieces = _markdown(text)
    else:
        pieces = [(f"paragraph {i}", p) for i, p in enumerate(_paragraphs(text), start=1)]
    out = []
    for position, body in pieces:
        for part, chunk in enumerate(_chunks(body)):
            where = position if part == 0 else f"{position} (part {part + 1})"
            out.append(Passage(f"{source}#{len(out) + 1}", chunk, source, where))
    return out


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _markdown(text: str) -> list[tuple[str, str]]:
    pieces = []
    heading = "start"
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        while lines and lines[0].lstrip().startswith("#"):
            heading = lines.pop(0).lstrip("# ").strip()
        body = " ".join(" ".join(lines).split())
        if body:
            pieces.append((heading, body))
    return pieces


def _cues(text: str) -> list[tuple[str, str]]:
    pieces = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().splitlines()
        for index, line in enumerate(lines):
            match = _CUE.search(line)
            if match:
                body = " ".join(" ".join(lines[index + 1:]).split())
                body = re.sub(r"<[^>]+>", "", body)  # WebVTT voice and style tags
                if body:
                    pieces.append((f"{match['start']}–{match['end']}", body))
                break
    return _merge_short(pieces)


def _bracketed(text: str) -> list[tuple[str, str]]:
    matches = [_BRACKET.match(line) for line in text.splitlines()]
    pieces = [(m["start"], m["text"].strip()) for m in matches if m and m["text"].strip()]
    return _merge_short(pieces)


def _merge_short(pieces: list[tuple[str, str]], words: int = 60) -> list[tuple[str, str]]:
    """Join consecutive short cues until a passage has about ``words`` words: a subtitle line alone says little."""
    merged: list[tuple[str, str]] = []
    start, end, buffer = "", "", []
    for position, body in pieces:
        first, _, last = position.partition("–")
        if not buffer:
            start = first
        buffer.append(body)
        end = last or first
        if sum(len(b.split()) for b in buffer) >= words:
            merged.append((f"{start}–{end}" if end != start else start, " ".join(buffer)))
            buffer = []
    if buffer:
        merged.append((f"{start}–{end}" if end != start else start, " ".join(buffer)))
    return merged


def _chunks(body: str) -> list[str]:
    words = body.split()
    if len(words) <= MAX_WORDS:
        return [body]
    return [" ".join(words[i:i + MAX_WORDS]) for i in range(0, len(words), MAX_WORDS)]
