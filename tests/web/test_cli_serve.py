"""`gradtrace serve` refusing what it cannot serve: no address is printed for a server that never listened."""

import socket

import pytest
from typer.testing import CliRunner

from gradtrace.cli import app

pytest.importorskip("fastapi")  # the web extra
pytest.importorskip("uvicorn")

runner = CliRunner()


def test_a_taken_port_a_bad_port_and_a_file_as_dir_print_no_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 1 and f"Cannot listen on 127.0.0.1:{port}" in result.output
    assert "http://" not in result.output
    result = runner.invoke(app, ["serve", str(tmp_path), "--port", "99999"])
    assert result.exit_code == 2 and "`--port` must be at most 65535, got 99999" in result.output
    assert "http://" not in result.output
    (tmp_path / "afile").write_text("")
    result = runner.invoke(app, ["serve", str(tmp_path / "afile")])
    assert result.exit_code == 2 and "is not a folder" in result.output and "http://" not in result.output
