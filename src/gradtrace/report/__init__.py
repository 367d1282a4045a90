"""Figures and the self-contained HTML report, drawn from a run store."""

from gradtrace.report.figures import Figure, Table
from gradtrace.report.html import render_report, write_report

__all__ = ["Figure", "Table", "render_report", "write_report"]
