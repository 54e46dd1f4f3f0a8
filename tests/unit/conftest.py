"""Fixtures shared by the unit tests: a controllable clock, and an environment the settings
tests start from."""

from __future__ import annotations

from pathlib import Path

import pytest

from secure_auth.config import Settings


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


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No .env in the working directory and none of the app's variables in the environment:
    Settings built in a test read only what the test gives them. The working directory."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    return tmp_path
