"""Signed-in people using the calculator through nginx, a GET and a POST in turn, each in a
thread of their own, while a test reloads, stops or starts a back end."""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass

import httpx

from tests.support.browser import Browser, hidden_inputs

_RESULT = re.compile(r'data-testid="calc-result">([^<]*)<')


@dataclass
class Outcome:
    method: str
    ok: bool
    detail: str
    request_id: str | None
    at: float


class Traffic:
    def __init__(self, people: list[Browser], *, posts: bool = True) -> None:
        self.people = people
        self.posts = posts
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._use, args=(p,), daemon=True) for p in people]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _use(self, person: Browser) -> None:
        token = hidden_inputs(person.get("/calculator").text)["csrf_token"]
        for n in itertools.count(1):
            if self._stop.is_set():
                return
            self._record("GET", person, lambda: person.get("/calculator"), None)
            if self.posts:
                form = {"csrf_token": token, "a": str(n), "operator": "add", "b": "1000"}
                self._record("POST", person, lambda f=form: person.post("/calculator", data=f), str(n + 1000))

    def _record(self, method: str, person: Browser, send, expected: str | None) -> None:
        try:
            response: httpx.Response = send()
        except httpx.HTTPError as exc:
            self._add(Outcome(method, False, f"{type(exc).__name__}: {exc}", None, time.monotonic()))
            return
        request_id = response.headers.get("x-request-id")
        if response.status_code != 200:
            detail = f"{response.status_code} {response.text[:200]!r}"
            self._add(Outcome(method, False, detail, request_id, time.monotonic()))
            return
        found = _RESULT.search(response.text)
        if expected is not None and (found is None or found.group(1) != expected):
            self._add(Outcome(method, False, f"200 without the result {expected}", request_id, time.monotonic()))
            return
        self._add(Outcome(method, True, "", request_id, time.monotonic()))

    def _add(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    # ----- reading it -----

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def run_until(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.count()} requests in {timeout:.0f} s")
            time.sleep(0.05)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def answered(self, method: str) -> int:
        return sum(1 for o in self.outcomes if o.ok and o.method == method)
