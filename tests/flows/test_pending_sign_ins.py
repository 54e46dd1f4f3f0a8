"""Pending sign-ins cannot be exhausted: an abandoned sign-in costs the server nothing it
must keep, so a flood of them never blocks the next person (issue 10, finding 1)."""

from __future__ import annotations

import pytest

from app import create_app
from secure_auth.stores.memory import MemoryStateStore
from tests.conftest import ADELE, BEN, PUBLIC_CLIENT_ID, settings_for
from tests.support.servers import ServerThread, bind_loopback


@pytest.fixture
def small_backup_app(entra, client_certificate):
    """An app whose StateStore backup holds only ten pending sign-ins."""
    sock = bind_loopback()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = settings_for("public", entra, base_url, client_certificate)
    registration = entra.config.client(PUBLIC_CLIENT_ID)
    registration.redirect_uris.append(settings.redirect_uri)
    backup = MemoryStateStore(max_entries=10)
    server = ServerThread(create_app(settings, state_store=backup), sock).start()
    yield base_url, backup
    server.stop()
    registration.redirect_uris.remove(settings.redirect_uri)


def test_sign_in_works_after_more_abandoned_sign_ins_than_the_store_holds(small_backup_app, browsers):
    base_url, backup = small_backup_app
    person = browsers(base_url)
    authorize = person.start_login("/me")  # started before the flood, finished after it
    for _ in range(30):
        assert browsers(base_url).get("/auth/login").status_code == 303
    assert len(backup) <= 10
    late = browsers(base_url)
    assert late.sign_in(BEN.username, BEN.password).status_code == 303
    assert late.get("/me").json()["username"] == BEN.username
    callback = person.authenticate(authorize, ADELE.username, ADELE.password)
    assert person.finish(callback).headers["location"] == "/me"
    assert person.get("/me").json()["username"] == ADELE.username
