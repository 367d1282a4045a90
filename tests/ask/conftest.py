"""Shared settings of the `gradtrace ask` tests: every index is cached under the test's own folder."""

import pytest

pytest.importorskip("bm25s")
pytest.importorskip("Stemmer")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # never ~/.cache: a test must not read an index another run left there, nor leave one behind
    folder = tmp_path / "cache"
    monkeypatch.setenv("GRADTRACE_CACHE", str(folder))
    return folder
