"""A doctor's check: a verdict (ok / warning / problem), what was found and, when not ok,
the fix in a sentence or two."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str
    finding: str
    fix: str = ""
