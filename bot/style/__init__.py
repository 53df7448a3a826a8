"""Style: the author's profile, the fidelity score of a text, the quality gates, best-of-n selection."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from bot.config import Config


def check_draft(cfg: Config, db: sqlite_utils.Database, draft: dict) -> dict[str, Any]:
    """Score a draft and run the gates: {"score": {...}, "gates": [{"name", "passed", "detail"}], "passed": bool}."""
    raise NotImplementedError("being built in issue 7")
