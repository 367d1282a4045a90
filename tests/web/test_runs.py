"""The run browser's routes: listing, opening, comparing, downloading, and refusing paths outside the folder."""

import os
from pathlib import Path

import numpy as np
import pytest

import gradtrace
from gradtrace.store import Store

pytest.importorskip("fastapi")  # the web extra
pytest.importorskip("httpx")  # the web-test extra: FastAPI's TestClient

from fastapi import FastAPI  # noqa: E402

from gradtrace.web.runs import MAX_COMPARED, MAX_URL, install  # noqa: E402

# Starlette's TestClient announces, on import, that it will move from httpx to another client: a notice about the
# test tool, not about gradtrace.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

PROFILE = "‖∂L/∂h_t‖ (median, range over seeds)"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """DIR with run folders ``first`` (gradient-path and long-range, quick), ``group/second`` (gradient-path),
    a damaged one, a folder that is no run folder, and beside DIR a run folder only a symbolic link reaches."""
    base = tmp_path_factory.mktemp("browse")
    root = base / "runs"
    for study in ("gradient-path", "long-range"):
        gradtrace.run_study(study, root / "first", quick=True)
    gradtrace.run_study("gradient-path", root / "group" / "second", quick=True)
    (root / "broken").mkdir()
    (root / "broken" / "catalog.sqlite").write_bytes(b"this is no SQLite database" * 40)
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not a run folder")
    outside = base / "secret"
    gradtrace.run_study("gradient-path", outside, quick=True)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    return root


def TestClient(app):  # noqa: N802 - imported where the warning filter above holds
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture(scope="module")
def client(root):
    app = FastAPI()
    install(app, root)
    app.state.browsed = str(root)
    with TestClient(app) as client:
        yield client


def test_the_list_shows_every_run_folder_with_its_state(client):
    answer = client.get("/api/runs")
    assert answer.status_code == 200
    folders = {f["folder"]: f for f in answer.json()["folders"]}
    assert sorted(folders) == ["broken", "first", "group/second"]  # not notes/, not the link out
    first = folders["first"]
    assert first["state"] == "ok" and first["quick"] is True
    assert [s["name"] for s in first["studies"]] == ["gradient-path", "long-range"]
    assert first["claims"]["total"] == sum(s["claims"]["total"] for s in first["studies"]) > 0
    assert folders["broken"]["state"] == "damaged" and "damaged" in folders["broken"]["problem"]
    page = client.get("/runs?lang=pt")
    assert page.status_code == 200 and 'lang="pt"' in page.text and "Pastas de execuções" in page.text


def test_an_empty_folder_lists_nothing(tmp_path):
    app = FastAPI()
    install(app, tmp_path)
    with TestClient(app) as client:
        assert client.get("/api/runs").json()["folders"] == []
        assert client.get("/runs").status_code == 200


def test_install_refuses_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(ValueError, match="`root` must be an existing folder.*does not exist"):
        install(FastAPI(), tmp_path / "nowhere")


def test_a_study_section_holds_the_reports_claims_and_the_stored_numbers(client, root):
    section = client.get("/api/runs/first/studies/gradient-path").json()
    assert section["title"] == "The recurrent network and its gradient path" and section["question"]
    assert section["claims"] and all({"name", "held", "sentence"} <= set(c) for c in section["claims"])
    assert section["claims_note"].startswith("Quick mode")
    figure = section["figures"][0]
    panel = figure["plot"]["panels"][0]
    series = next(s for s in panel["series"] if s["label"] == PROFILE)
    # The median over seeds the report draws, from the run's stored profile.
    profile = Store(root / "first", create=False).get("gradient-path", "many-to-one").arrays["trace/grad_norms"]
    expected = np.nanmedian(profile, axis=0)
    assert np.allclose(np.array(series["y"], dtype=float), expected, rtol=1e-5)
    assert section["tables"] and section["footnote"]
    pt = client.get("/api/runs/first/studies/gradient-path?lang=pt").json()
    assert pt["held_word"] in ("✓ confirmada",) and pt["figures"][0]["title"] == "O gradiente ao longo da sequência"


def test_a_heat_map_comes_as_the_reports_image(client):
    section = client.get("/api/runs/first/studies/long-range").json()
    images = [f for f in section["figures"] if "image" in f]
    assert images and images[0]["image"].startswith("data:image/png;base64,")
    assert "heat map" in images[0]["static_reason"]
    assert any("plot" in f for f in section["figures"])


def test_large_answers_are_compressed_for_clients_that_accept_it(client):
    answer = client.get("/api/runs/first/studies/long-range", headers={"Accept-Encoding": "gzip"})
    assert answer.headers.get("content-encoding") == "gzip" and answer.json()["study"] == "long-range"


def test_a_run_page_and_a_comparison(client):
    page = client.get("/runs/first")
    assert page.status_code == 200 and '"folders": ["first"]' in page.text
    compared = client.get("/runs/first?with=group/second")
    assert compared.status_code == 200 and '"folders": ["first", "group/second"]' in compared.text
    too_many = client.get("/runs/first?" + "&".join(f"with=f{i}" for i in range(MAX_COMPARED)))
    assert too_many.status_code == 400 and "at most" in too_many.json()["detail"]
    assert client.get("/runs/first?with=nowhere").status_code == 404
    other = client.get("/api/runs/group/second/studies/gradient-path").json()
    assert [c["name"] for c in other["claims"]] == [c["name"] for c in client.get(
        "/api/runs/first/studies/gradient-path").json()["claims"]]


def test_the_report_downloads_in_each_language_and_leaves_nothing_behind(client, root):
    before = sorted(p.name for p in (root / "group" / "second").iterdir())
    english = client.get("/runs/group/second/report")
    assert english.status_code == 200 and english.headers["content-type"].startswith("text/html")
    assert 'attachment; filename="report-group-second-en.html"' == english.headers["content-disposition"]
    assert "gradtrace report" in english.text and "data:image/png;base64," in english.text
    portuguese = client.get("/runs/group/second/report?lang=pt")
    assert portuguese.status_code == 200 and "Relatório do gradtrace" in portuguese.text
    assert sorted(p.name for p in (root / "group" / "second").iterdir()) == before  # no report.html, summary.json
    assert client.get("/runs/broken/report").status_code == 409


def test_a_folder_being_written_says_so(client, root):
    writer = Store(root / "group" / "second")
    with writer.write_lock():
        entry = client.get("/api/runs/group/second").json()
    assert entry["state"] == "writing" and f"PID {os.getpid()}" in entry["writer"]
    assert client.get("/api/runs/group/second").json()["state"] == "ok"


def test_unknown_study_and_language_are_refused_clearly(client):
    missing = client.get("/api/runs/first/studies/exploding")
    assert missing.status_code == 404 and "It holds: gradient-path, long-range" in missing.json()["detail"]
    language = client.get("/api/runs?lang=fr")
    assert language.status_code == 400 and language.json()["detail"] == "`lang` must be one of en, pt, got 'fr'."


@pytest.mark.parametrize("path, status", [
    ("/api/runs/%2e%2e", 400),
    ("/api/runs/%2e%2e/%2e%2e/etc", 400),
    ("/api/runs/first/%2e%2e/%2e%2e", 400),
    ("/api/runs/%252e%252e/%252e%252e", 400),  # encoded twice
    ("/api/runs/%252e%252e%252fetc", 400),
    ("/api/runs//etc/passwd", 400),  # absolute
    ("/api/runs/%2Fetc%2Fpasswd", 400),
    ("/api/runs/..%5C..%5Cetc", 400),  # backslashes
    ("/api/runs/first%00", 400),  # NUL
    ("/api/runs/escape", 404),  # a symbolic link out of DIR
    ("/api/runs/escape/studies/gradient-path", 404),
    ("/api/runs/notes", 404),  # no run store there
    ("/api/runs/first/arrays", 404),
    ("/api/runs/first/studies/%2e%2e%2f%2e%2e%2fcatalog.sqlite", 400),
    ("/runs/%2e%2e/%2e%2e/report", 400),
    ("/runs/escape/report", 404),
    ("/runs/%2e%2e", 400),
    ("/runs/first?with=%2e%2e/secret", 400),
    ("/runs/first?with=escape", 404),
])
def test_paths_outside_the_folder_are_refused_with_a_message(client, path, status):
    answer = client.get(path)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail and "Traceback" not in detail
    assert "root:x:" not in answer.text and str(Path(client.app.state.browsed).parent) not in answer.text


def test_requests_are_bounded(client):
    assert client.get("/api/runs/" + "a" * MAX_URL).status_code == 414
    assert client.get("/api/runs/" + "a" * 600).status_code == 400  # a name over MAX_NAME
    body = client.request("GET", "/api/runs", content=b"x" * 64)
    assert body.status_code == 413 and "no request body" in body.json()["detail"]


def test_a_symbolic_link_inside_the_folder_is_followed(root, tmp_path):
    inside = tmp_path / "runs"
    inside.mkdir()
    (inside / "alias").symlink_to(Path(root) / "first", target_is_directory=True)
    app = FastAPI()
    install(app, inside)
    with TestClient(app) as client:
        assert [f["folder"] for f in client.get("/api/runs").json()["folders"]] == []  # it leads out of `inside`
    app = FastAPI()
    (Path(root) / "group" / "link").symlink_to(Path(root) / "first", target_is_directory=True)
    try:
        install(app, root)
        with TestClient(app) as client:
            assert client.get("/api/runs/group/link").json()["state"] == "ok"
    finally:
        (Path(root) / "group" / "link").unlink()


def test_a_declared_studys_section_shows_only_the_runs_its_file_plans(tmp_path):
    # Runs an edit of the file replaced stay in the store; the section, like the report's, leaves them out.
    from gradtrace.studies.declared import DeclaredStudy

    def study(max_norm):
        return DeclaredStudy.from_dict({
            "name": "tiny", "seeds": 1, "train": {"steps": 2, "batch_size": 2, "eval_every": 2},
            "models": {"tanh": {"type": "elman", "hidden_size": 3}}, "tasks": {"add": {"type": "adding", "length": 5}},
            "remedies": {"clip": {"type": "clip_by_global_norm", "max_norm": max_norm}},
            "grid": {"remedy": ["none", "clip"]}})

    gradtrace.run_study(study(1.0), tmp_path / "runs" / "declared")
    gradtrace.run_study(study(0.5), tmp_path / "runs" / "declared")
    assert len(Store(tmp_path / "runs" / "declared").names("tiny")) == 3
    app = FastAPI()
    install(app, tmp_path / "runs")
    with TestClient(app) as client:
        section = client.get("/api/runs/declared/studies/tiny").json()
    assert section["footnote"].startswith("2 runs"), section["footnote"]
