"""Fixtures shared by the unit tests: a controllable clock."""

from __future__ import annotations

import pytest


class FakeClock:
    """A clock the test moves by hand; callable like time.time / time.monotonic."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
