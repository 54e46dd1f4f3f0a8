"""The CSRF guard wraps every request: a form body is read (bounded) to find its token and
replayed to the route; what cannot be read is refused cleanly, never with a 500."""

from __future__ import annotations

from tests.conftest import ADELE
from tests.flows.test_request_context import signed_in


def test_a_form_is_replayed_to_the_route_after_the_guard_read_its_token(public_app, browsers):
    browser = signed_in(browsers, public_app)
    token = browser.csrf_token()
    page = browser.post("/calculator", data={"a": "6", "b": "7", "operator": "multiply", "csrf_token": token})
    assert page.status_code == 200 and "42" in page.text


def test_a_multipart_form_carries_its_token_too(public_app, browsers):
    browser = signed_in(browsers, public_app)
    token = browser.csrf_token()
    fields = {"a": "1", "b": "2", "operator": "add", "csrf_token": token}
    page = browser.post("/calculator", files={"attachment": ("a.txt", b"x")}, data=fields)
    assert page.status_code == 200 and "3" in page.text


def test_an_oversized_form_is_refused_with_413_before_it_is_parsed(public_app, browsers):
    browser = signed_in(browsers, public_app)
    page = browser.post("/calculator", data={"a": "1" * 1_100_000, "csrf_token": browser.csrf_token()})
    assert page.status_code == 413
    assert ADELE.name in page.text  # the page still shows who is signed in


def test_a_malformed_multipart_body_is_a_400(public_app, browsers):
    browser = signed_in(browsers, public_app)
    page = browser.post(
        "/calculator",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nnot closed",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert page.status_code == 400
    assert "invalid_input" in page.text


def test_a_cross_site_post_is_refused_before_any_route_even_an_unknown_one(public_app, browsers):
    browser = browsers(public_app.base_url)
    page = browser.post("/no-such-page", data={"a": "1"}, headers={"origin": "https://evil.example"})
    assert page.status_code == 403 and "csrf_rejected" in page.text


def test_a_body_over_max_request_body_bytes_gets_413_while_it_streams(public_app, browsers):
    """A token in the header lets the guard pass without reading: the route's own parsing
    must still stop at the limit (a 1 GiB upload was once spooled to disk)."""
    browser = signed_in(browsers, public_app)
    token = browser.csrf_token()

    def chunks():  # a file part of 2.5 MiB, no Content-Length: counted while read
        yield b'--b\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n'
        for _ in range(40):
            yield b"x" * 65_536
        yield b"\r\n--b--\r\n"

    page = browser.post(
        "/calculator",
        content=chunks(),
        headers={"x-csrf-token": token, "content-type": "multipart/form-data; boundary=b", "accept": "text/html"},
    )
    assert page.status_code == 413
    assert ADELE.name in page.text and "too large" in page.text


def test_a_streamed_form_over_the_limit_is_a_413_while_the_guard_reads_it(public_app, browsers):
    """No token header: the CSRF guard reads the form itself, and the body limit (one layer
    further out) stops that read at the limit, before any route runs."""
    browser = signed_in(browsers, public_app)

    def chunks():  # no Content-Length
        yield b"csrf_token=" + browser.csrf_token().encode() + b"&a="
        for _ in range(20):
            yield b"1" * 65_536

    page = browser.post(
        "/calculator",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded", "accept": "text/html"},
    )
    assert page.status_code == 413
    assert ADELE.name in page.text and "body_too_large" in page.text


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(public_app, browsers):
    browser = signed_in(browsers, public_app)
    page = browser.post(
        "/calculator",
        content=b"x" * (1_048_576 + 1),
        headers={"x-csrf-token": browser.csrf_token(), "content-type": "application/octet-stream"},
    )
    assert page.status_code == 413
    assert ADELE.name in page.text  # the app's own page, showing who is signed in
    as_json = browser.post("/calculator", content=b"x" * (1_048_576 + 1), headers={"accept": "application/json"})
    assert as_json.status_code == 413 and as_json.json()["error"] == "body_too_large"


def test_an_opaque_origin_passes_only_from_this_site(public_app, browsers):
    browser = signed_in(browsers, public_app)
    token = browser.csrf_token()
    form = {"a": "1", "b": "2", "operator": "add", "csrf_token": token}
    own = browser.post("/calculator", data=form, headers={"origin": "null", "sec-fetch-site": "same-origin"})
    assert own.status_code == 200  # this site's own form, on a page that sends no Referer
    for fetch_site in ("cross-site", "same-site", "none", None):
        headers = {"origin": "null", **({"sec-fetch-site": fetch_site} if fetch_site else {})}
        refused = browser.post("/calculator", data=form, headers=headers)
        assert refused.status_code == 403, fetch_site  # a sandboxed frame, a data: URL, ...
    tokenless = {"a": "1", "b": "2", "operator": "add"}
    no_token = browser.post("/calculator", data=tokenless, headers={"origin": "null", "sec-fetch-site": "same-origin"})
    assert no_token.status_code == 403  # the token still decides
