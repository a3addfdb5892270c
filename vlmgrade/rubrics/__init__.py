"""Rubrics: YAML data plus Jinja prompts. `load` reads and checks the YAML, `render` renders the prompt in
a bounded sandbox, `parse` turns a judge's reply into scores; `model` holds the frozen types."""

from __future__ import annotations

from vlmgrade.rubrics.load import builtin_names, load_rubric
from vlmgrade.rubrics.model import VERDICTS, Criterion, JudgeDefaults, Rubric
from vlmgrade.rubrics.parse import parse_reply
from vlmgrade.rubrics.render import MAX_RENDERED, json_schema, render

__all__ = ["MAX_RENDERED", "VERDICTS", "Criterion", "JudgeDefaults", "Rubric", "builtin_names", "json_schema",
           "load_rubric", "parse_reply", "render"]
