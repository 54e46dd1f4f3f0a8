"""A scripted browser over real HTTP: its own cookie jar, redirects followed by hand so
each step of the sign-in can be inspected or diverted."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx

_HIDDEN = re.compile(r'<input[^>]*name="(?P<name>[^"]+)"[^>]*value="(?P<value>[^"]*)"')


def hidden_inputs(html: str) -> dict[str, str]:
    fields = {}
    for match in _HIDDEN.finditer(html):
        fields[match.group("name")] = match.group("value")
    return fields


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Callback:
    """Where the IdP sent the browser back to: the app's callback URL with code and state."""

    url: str

    @property
    def params(self) -> dict[str, str]:
        return query_of(self.url)


class Browser:
    def __init__(self, base_url: str, verify: object = True, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(follow_redirects=False, timeout=20, verify=verify, transport=transport)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, path_or_url: str, **kwargs) -> httpx.Response:
        return self.client.get(self._url(path_or_url), **kwargs)

    def post(self, path_or_url: str, **kwargs) -> httpx.Response:
        return self.client.post(self._url(path_or_url), **kwargs)

    def _url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url

    @property
    def session_cookie(self) -> str | None:
        for cookie in self.client.cookies.jar:
            if cookie.name in ("session", "__Host-session"):
                return cookie.value
        return None

    def csrf_token(self, path: str = "/calculator") -> str:
        page = self.get(path)
        assert page.status_code == 200, page.text
        return hidden_inputs(page.text)["csrf_token"]

    # ----- the sign-in, step by step -----

    def start_login(self, next_path: str | None = None) -> str:
        """GET /auth/login; return the authorize URL the app redirects to."""
        response = self.get("/auth/login", params={"next": next_path} if next_path else None)
        assert response.status_code in (302, 303), response.text
        return response.headers["location"]

    def authenticate(self, authorize_url: str, username: str, password: str) -> Callback:
        """Fill in the IdP's sign-in form; return where it redirects back to."""
        page = self.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = hidden_inputs(page.text)
        fields.update(username=username, password=password, action="sign_in")
        response = self.client.post(authorize_url.split("?")[0], data=fields)
        assert response.status_code in (302, 303), response.text
        return Callback(response.headers["location"])

    def finish(self, callback: Callback) -> httpx.Response:
        return self.get(callback.url)

    def sign_in(self, username: str, password: str, next_path: str | None = None) -> httpx.Response:
        callback = self.authenticate(self.start_login(next_path), username, password)
        return self.finish(callback)

    # ----- what else the IdP may ask (local_entra's pages) -----

    def continue_signed_in(self, authorize_url: str) -> Callback:
        """Continue with the sign-in the IdP remembers for this browser (no password)."""
        page = self.get(authorize_url)
        assert page.status_code == 200 and 'value="continue"' in page.text, page.text
        response = self.client.post(
            authorize_url.split("?")[0],
            data={"request_id": hidden_inputs(page.text)["request_id"], "action": "continue"},
        )
        assert response.status_code in (302, 303), response.text
        return Callback(response.headers["location"])

    def step_up(
        self, authorize_url: str, username: str | None = None, password: str | None = None, *, approve: bool = True
    ) -> Callback:
        """Through a sign-in that asks for an authentication context: the password when the
        IdP asks for it, then Approve (or Decline) on its step-up page."""
        page = self.get(authorize_url)
        assert page.status_code == 200, page.text
        target = authorize_url.split("?")[0]
        request_id = hidden_inputs(page.text)["request_id"]
        if "Approve this sign-in" not in page.text:
            assert username and password, "the IdP asks for a password"
            page = self.client.post(
                target, data={"request_id": request_id, "username": username, "password": password, "action": "signin"}
            )
            assert page.status_code == 200 and "Approve this sign-in" in page.text, page.text
        response = self.client.post(
            target, data={"request_id": request_id, "action": "approve" if approve else "decline"}
        )
        assert response.status_code in (302, 303), response.text
        return Callback(response.headers["location"])
