"""The exceptions users see. The CLI prints a UserError's message on one line and exits 2; a run whose
judgments are mostly unscored exits 3 (its folder is complete). From Python both are raised as they are."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input from the user (a missing file, an unknown name, a malformed config)."""


class MostlyUnscored(Exception):
    """More than half of a run's judgments are unscored. The run folder is written and whole; `run` holds
    the results (a `vlmgrade.Run`, or None from the CLI). Pass allow_unscored (--allow-unscored) to accept."""

    def __init__(self, message: str, run: Any = None) -> None:
        super().__init__(message)
        self.run = run
