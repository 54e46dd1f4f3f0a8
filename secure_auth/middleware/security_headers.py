"""Strict security headers on every response: pages, redirects, JSON, errors, static files.

The header set lives in `SecurityHeaders`: the request-context middleware applies it to
every response (with the request id, in the same pass), and the last-resort 500 handler
(which Starlette runs outside all middleware) applies exactly the same set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from starlette.datastructures import MutableHeaders

from secure_auth.outbound.proxy_rules import PROXY_PREFIX

# The one page the IdP may load in an iframe (it ends sessions; it shows nothing private).
FRONT_CHANNEL_LOGOUT_PATH = "/auth/front-channel-logout"
API_RESPONSE_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


@lru_cache(maxsize=16)
def _csp_prefix(form_action_origins: frozenset[str], frame_ancestors: str) -> tuple[str, str]:
    form_action = " ".join(["'self'", *sorted(form_action_origins)])
    return (
        "default-src 'self'; script-src 'self' 'nonce-",
        "'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        f"frame-ancestors {frame_ancestors}; form-action {form_action}",
    )


def content_security_policy(form_action_origins: Iterable[str], nonce: str, *, framable_by_idp: bool = False) -> str:
    """The strict policy: scripts only from this origin or carrying this response's nonce,
    no inline style; form-action also allows the IdP origins a form's redirect reaches.
    Only the front-channel logout page may be framed, and only by the IdP."""
    origins = frozenset(form_action_origins)
    ancestors = " ".join(sorted(origins)) if framable_by_idp else "'none'"
    head, tail = _csp_prefix(origins, ancestors)
    return f"{head}{nonce}{tail}"


RawHeaders = list[tuple[bytes, bytes]]
REQUEST_ID_HEADER = b"x-request-id"
# The headers this set owns: whatever a route set under these names is replaced.
_OWNED = frozenset(
    {
        REQUEST_ID_HEADER,
        b"content-security-policy",
        b"x-content-type-options",
        b"x-frame-options",
        b"referrer-policy",
        b"cross-origin-opener-policy",
        b"permissions-policy",
        b"strict-transport-security",
    }
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """The strict header set, in one place: the middleware applies it to every response,
    and the last-resort 500 handler (which Starlette runs outside all middleware) too.

    Everything but the CSP nonce is encoded once; a response costs one pass over its
    headers and a list extension."""

    def __init__(
        self,
        *,
        form_action_origins: Callable[[], Iterable[str]],
        hsts: bool = False,
        hsts_include_subdomains: bool = False,
    ) -> None:
        self.form_action_origins = form_action_origins
        hsts_value = "max-age=31536000; includeSubDomains" if hsts_include_subdomains else "max-age=31536000"
        common: RawHeaders = [
            (b"x-content-type-options", b"nosniff"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
        ]
        if hsts:
            common.append((b"strict-transport-security", hsts_value.encode("latin-1")))
        self._common = common

    def headers_for(self, *, path: str, nonce: str) -> RawHeaders:
        """The headers for a response to `path` (Cache-Control aside: see `apply_raw`)."""
        is_auth = path.startswith("/auth/")
        framable = path == FRONT_CHANNEL_LOGOUT_PATH
        if path.startswith(PROXY_PREFIX):
            # The API's answers are served from this origin: whatever their type, they may
            # run nothing and load nothing here.
            csp = API_RESPONSE_CSP
        else:
            csp = content_security_policy(self.form_action_origins(), nonce, framable_by_idp=framable)
        headers = [(b"content-security-policy", csp.encode("latin-1")), *self._common]
        if not framable:
            headers.append((b"x-frame-options", b"DENY"))
        referrer = b"no-referrer" if is_auth else b"strict-origin-when-cross-origin"
        headers.append((b"referrer-policy", referrer))
        return headers

    def apply_raw(
        self, raw: Iterable[tuple[bytes, bytes]], *, path: str, has_session: bool, nonce: str, request_id: str
    ) -> RawHeaders:
        """`raw` with this set and the request id applied. /auth/ URLs carry codes and state,
        and responses to a request with a session or that set a cookie are private: those
        are never cached."""
        private = has_session or path.startswith("/auth/")
        kept: RawHeaders = []
        for header in raw:
            name = header[0]
            if name in _OWNED:
                continue
            if name == b"set-cookie":
                private = True
            kept.append(header)
        if private:
            kept = [header for header in kept if header[0] != b"cache-control"]
            kept.append(_NO_STORE)
        kept.extend(self.headers_for(path=path, nonce=nonce))
        kept.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
        return kept

    def apply(self, headers: MutableHeaders, *, path: str, has_session: bool, nonce: str, request_id: str) -> None:
        """The same, on a response's headers (the 500 handler's)."""
        headers.raw[:] = self.apply_raw(
            headers.raw, path=path, has_session=has_session, nonce=nonce, request_id=request_id
        )
