"""Figures and the self-contained HTML report, drawn from a run store."""

from gradtrace.report.figures import Figure, Table
from gradtrace.report.html import write_report

__all__ = ["Figure", "Table", "write_report"]
