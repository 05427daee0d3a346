"""A person's own account page: password change (closes the other sessions), language."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hub.accounts import Role
from tests.support.accounts import PASSWORD, sign_in
from tests.support.hub_server import RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port

NEW = "un tout nouveau mot de passe"


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    config = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    )
    with running_hub(config) as running:
        yield running


def test_change_password_closes_other_sessions_and_keeps_this_one(hub: RunningHub) -> None:
    here = sign_in(hub.runtime.sessions, Role.STAFF, email="camille@ekilibre.fr")
    with (
        here.client(hub.base_url) as client,
        httpx.Client(base_url=hub.base_url, cookies=client.cookies) as elsewhere,
    ):  # the same account on another computer (same cookie for the test)
        assert "Changer mon mot de passe" in client.get("/account").text
        form = {"csrf_token": here.csrf, "current": PASSWORD, "new": NEW, "again": NEW + "x"}
        differ = client.post("/account/password", data=form)
        assert differ.status_code == 400
        assert "Les deux nouveaux mots de passe diffèrent." in differ.text
        wrong = client.post("/account/password", data={**form, "current": "faux", "again": NEW})
        assert "Le mot de passe actuel est incorrect." in wrong.text
        short = client.post("/account/password", data={**form, "new": "court", "again": "court"})
        assert "au moins 10 caractères" in short.text
        done = client.post("/account/password", data={**form, "again": NEW})
        assert done.status_code == 303
        page = client.get(done.headers["location"])  # the new cookie replaced the old one
        assert "Mot de passe modifié." in page.text
        assert elsewhere.get("/staff").status_code == 401  # the old cookie is dead
    with httpx.Client(base_url=hub.base_url) as browser:
        token = browser.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        response = browser.post("/login", data={"email": "camille@ekilibre.fr", "password": NEW,
                                                "csrf_token": token})  # fmt: skip
    assert response.status_code == 303


def test_language_preference(hub: RunningHub) -> None:
    user = sign_in(hub.runtime.sessions, Role.STAFF)
    with user.client(hub.base_url) as client:
        assert "Tableau de bord" in client.get("/staff").text
        changed = client.post("/account/language", data={"csrf_token": user.csrf, "language": "en"})
        assert changed.status_code == 303
        assert "Language changed." in client.get(changed.headers["location"]).text
        assert "Who is here" in client.get("/staff").text
        bad = client.post("/account/language", data={"csrf_token": user.csrf, "language": "de"})
        assert bad.status_code == 422
