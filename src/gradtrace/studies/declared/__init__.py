"""Studies declared in TOML: the schema, the study, its claims and (in ``figures``) its report section."""

from gradtrace.studies.declared.schema import MAX_RUNS, MAX_RUNS_EVER, Declaration, Point, parse
from gradtrace.studies.declared.study import (
    DeclaredStudy,
    StudyFile,
    builtin_toml,
    load_study,
    read_study_file,
    show_study,
)
from gradtrace.studies.declared.template import template, write_template

__all__ = ["MAX_RUNS", "MAX_RUNS_EVER", "Declaration", "DeclaredStudy", "Point", "StudyFile", "builtin_toml",
           "load_study", "parse", "read_study_file", "show_study", "template", "write_template"]
