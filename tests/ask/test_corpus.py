"""Reading a user's folder: Markdown, text, subtitles, transcripts, logs; skipped files; bad folders."""

import pytest

from gradtrace.ask.corpus import MAX_WORDS, CorpusError, load_folder, split_sentences

SRT = """1
00:00:01,000 --> 00:00:04,000
The gradient shrinks at every step back in time.

2
00:00:04,500 --> 00:00:08,000
Its norm is a product of Jacobians.
"""

VTT = """WEBVTT

00:01.000 --> 00:03.000
<v Teacher>Clipping caps the norm of the gradient.</v>

00:03.500 --> 00:06.000
It does not fix a vanishing one.
"""

BRACKETED = """[00:01:02] Hoje vamos falar de redes recorrentes.
[00:01:10] O gradiente some quando os pesos são pequenos.
[00:01:30] A LSTM resolve isso com portas.
"""

LOG = """**Trecho 1**
- *Início:* 01:32:59
- *Fim:* 01:34:35
- *Transcrição:* O gradiente explode quando o raio espectral passa de um.

**Trecho 2**
- *Início:* 01:40:00
- *Fim:* 01:41:10
- *Transcrição:* A normalização de camada estabiliza o treino.
"""

MARKDOWN = """# Recurrent networks

An RNN applies the same weights at every step.

## Vanishing gradients

The gradient shrinks when the recurrent weights are small.

It can also explode.
"""


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "course"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "rnn.md").write_text(MARKDOWN, encoding="utf-8")
    (root / "plain.txt").write_text("First paragraph about LSTM gates.\n\nSecond paragraph about GRUs.\n",
                                    encoding="utf-8")
    (root / "lecture.srt").write_text(SRT, encoding="utf-8")
    (root / "lecture.vtt").write_text(VTT, encoding="utf-8")
    (root / "aula.txt").write_text(BRACKETED, encoding="utf-8")
    (root / "log.md").write_text(LOG, encoding="utf-8")
    (root / "long.txt").write_text(" ".join(f"word{i}" for i in range(MAX_WORDS * 2 + 10)), encoding="utf-8")
    (root / "antigo.txt").write_bytes("A transcrição antiga usa acentuação em latin-1.".encode("latin-1"))
    (root / "weights.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (root / "slides.pdf").write_bytes(b"%PDF-1.4 fake")
    (root / "empty.txt").write_text("  \n\n ", encoding="utf-8")
    return root


def by_source(passages):
    out = {}
    for passage in passages:
        out.setdefault(passage.source, []).append(passage)
    return out


def test_markdown_is_split_at_headings_and_paragraphs(folder):
    passages = by_source(load_folder(folder)[0])["notes/rnn.md"]
    assert [(p.position, p.text) for p in passages] == [
        ("Recurrent networks", "An RNN applies the same weights at every step."),
        ("Vanishing gradients", "The gradient shrinks when the recurrent weights are small."),
        ("Vanishing gradients", "It can also explode."),
    ]
    assert [p.key for p in passages] == ["notes/rnn.md#1", "notes/rnn.md#2", "notes/rnn.md#3"]
    assert all(p.lang == "" and p.concept == "" for p in passages)  # a user's file: language unknown


def test_plain_text_paragraphs(folder):
    passages = by_source(load_folder(folder)[0])["plain.txt"]
    assert [(p.position, p.text) for p in passages] == [("paragraph 1", "First paragraph about LSTM gates."),
                                                        ("paragraph 2", "Second paragraph about GRUs.")]


def test_subtitle_cues_are_merged_with_start_and_end(folder):
    passages = by_source(load_folder(folder)[0])
    (srt,) = passages["lecture.srt"]
    assert srt.position == "00:00:01,000–00:00:08,000"
    assert srt.text == "The gradient shrinks at every step back in time. Its norm is a product of Jacobians."
    (vtt,) = passages["lecture.vtt"]
    assert vtt.position == "00:01.000–00:06.000"
    assert vtt.text == "Clipping caps the norm of the gradient. It does not fix a vanishing one."  # tags gone
    assert "WEBVTT" not in vtt.text


def test_bracketed_transcript_lines(folder):
    (passage,) = by_source(load_folder(folder)[0])["aula.txt"]
    assert passage.position == "00:01:02–00:01:30"
    assert passage.text.startswith("Hoje vamos falar de redes recorrentes. O gradiente some")
    assert "[00:01" not in passage.text


def test_retrieval_log_blocks(folder):
    passages = by_source(load_folder(folder)[0])["log.md"]
    assert [(p.position, p.text) for p in passages] == [
        ("01:32:59–01:34:35", "O gradiente explode quando o raio espectral passa de um."),
        ("01:40:00–01:41:10", "A normalização de camada estabiliza o treino."),
    ]


def test_long_text_is_cut_into_parts(folder):
    passages = by_source(load_folder(folder)[0])["long.txt"]
    assert [len(p.text.split()) for p in passages] == [MAX_WORDS, MAX_WORDS, 10]
    assert [p.position for p in passages] == ["paragraph 1", "paragraph 1 (part 2)", "paragraph 1 (part 3)"]
    assert len({p.key for p in passages}) == 3


def test_latin1_file_is_read(folder):
    (passage,) = by_source(load_folder(folder)[0])["antigo.txt"]
    assert passage.text == "A transcrição antiga usa acentuação em latin-1."


def test_skipped_files_say_why(folder):
    passages, skipped = load_folder(folder)
    assert sorted(skipped) == ["empty.txt (no text)", "slides.pdf (not .md, .markdown, .txt, .srt, .vtt)",
                               "weights.txt (binary)"]
    assert not {"weights.txt", "slides.pdf", "empty.txt"} & {p.source for p in passages}
    assert len({p.key for p in passages}) == len(passages)


def test_missing_folder(tmp_path):
    with pytest.raises(CorpusError, match=r"`--corpus` .*nowhere.* does not exist\. Expected a folder") as info:
        load_folder(tmp_path / "nowhere")
    assert isinstance(info.value, ValueError)


def test_file_given_as_folder(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# A\n\ntext\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"`--corpus` .* is a file, not a folder\. Expected a folder"):
        load_folder(path)


def test_empty_folder(tmp_path):
    with pytest.raises(CorpusError, match=r"`--corpus` .* holds no readable text\. Expected Markdown \(\.md\)"):
        load_folder(tmp_path)


def test_folder_of_binary_files_lists_them(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\x00" * 10)
    (tmp_path / "b.pdf").write_bytes(b"%PDF")
    with pytest.raises(CorpusError, match=r"no readable text\. Skipped: a\.txt \(binary\); b\.pdf \(not .*"
                                          r"Expected Markdown"):
        load_folder(tmp_path)


def test_split_sentences():
    # a number or a parenthesis does not start a sentence: "0.25" and "(2014)" stay whole
    assert split_sentences("It shrinks. It explodes! Why? 3 steps. e.g. this") == [
        "It shrinks.", "It explodes!", "Why? 3 steps. e.g. this"]
    assert split_sentences("The GRU of Cho et al. (2014) gates it. See Fig. 3 for σ′ ≤ 0.25. Done.") == [
        "The GRU of Cho et al. (2014) gates it.", "See Fig. 3 for σ′ ≤ 0.25.", "Done."]
