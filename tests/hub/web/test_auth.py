"""Signing in and out over real HTTP: cookies, CSRF, rate limits, revocation, tokens, headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.accounts import (
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    Role,
    digest,
    remove_user,
    revoke_token,
)
from hub.config import HubConfig
from hub.db.models import ApiToken, LoginFailure
from hub.web.auth import LOGIN_COOKIE, REFUSED_HEADER, SESSION_COOKIE
from tests.support.accounts import PASSWORD, api_token, form_token, sign_in
from tests.support.hub_server import RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port


@pytest.fixture
def config(system_broker_url: str, topic_root: str, db_url: str) -> HubConfig:
    return hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    )


@pytest.fixture
def hub(config: HubConfig) -> Iterator[RunningHub]:
    with running_hub(config) as running:
        yield running


def login(client: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
    form = client.get("/login")
    assert form.status_code == 200
    data = {"email": email, "password": password, "csrf_token": form_token(form.text), **extra}
    return client.post("/login", data=data)


def test_login_page_is_french_first_then_english(hub: RunningHub) -> None:
    with httpx.Client(base_url=hub.base_url) as client:
        french = client.get("/login")
        english = client.get("/login?lang=en")
    assert '<html lang="fr">' in french.text
    assert "Se connecter à Vivant" in french.text
    assert "Mot de passe" in french.text
    assert '<html lang="en">' in english.text
    assert "Sign in to Vivant" in english.text
    cookie = french.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # the hub is reached over http here


def test_login_then_logout_revokes_the_session(hub: RunningHub) -> None:
    user = sign_in(hub.runtime.sessions, Role.STAFF, email="camille@ekilibre.fr")
    with httpx.Client(base_url=hub.base_url) as client:
        response = login(client, "  Camille@EKILIBRE.fr ", PASSWORD, next="/staff")
        assert response.status_code == 303
        assert response.headers["location"] == "/staff"
        set_cookie = response.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=" in set_cookie
        assert "HttpOnly" in set_cookie
        assert "SameSite=lax" in set_cookie
        cookie = client.cookies[SESSION_COOKIE]
        dashboard = client.get("/staff")
        assert dashboard.status_code == 200
        assert "Tableau de bord" in dashboard.text
        out = client.post("/logout", data={"csrf_token": form_token(dashboard.text)})
        assert out.status_code == 303
        assert out.headers["location"] == "/login?bye=1"
        assert "Vous êtes déconnecté·e" in client.get("/login?bye=1").text
    # The old cookie opens nothing any more, even if someone kept it.
    with httpx.Client(base_url=hub.base_url, cookies={SESSION_COOKIE: cookie}) as stale:
        again = stale.get("/staff", headers={"Accept": "text/html"})
    assert again.status_code == 303
    assert again.headers["location"] == "/login?next=%2Fstaff"
    assert user.user_id > 0


def test_next_never_leaves_the_hub(hub: RunningHub) -> None:
    sign_in(hub.runtime.sessions, Role.STAFF, email="lea@ekilibre.fr")
    with httpx.Client(base_url=hub.base_url) as client:
        response = login(client, "lea@ekilibre.fr", PASSWORD, next="//evil.example/x")
    assert response.headers["location"] == "/staff"


def test_login_form_needs_its_csrf_token(hub: RunningHub) -> None:
    sign_in(hub.runtime.sessions, Role.STAFF, email="nina@ekilibre.fr")
    with httpx.Client(base_url=hub.base_url) as client:
        client.get("/login")
        forged = client.post(
            "/login", data={"email": "nina@ekilibre.fr", "password": PASSWORD, "csrf_token": "x"}
        )
    assert forged.status_code == 403
    assert "Ce formulaire a expiré" in forged.text
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")


def test_wrong_password_then_account_rate_limit(hub: RunningHub) -> None:
    sign_in(hub.runtime.sessions, Role.ADMIN, email="owner@ekilibre.fr")
    with httpx.Client(base_url=hub.base_url) as client:
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            wrong = login(client, "owner@ekilibre.fr", "not the password")
            assert wrong.status_code == 401
            assert "Adresse e-mail ou mot de passe incorrect." in wrong.text
        locked = login(client, "owner@ekilibre.fr", PASSWORD)  # even the right one, for now
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 800
    assert "Trop d’essais infructueux pour ce compte" in locked.text
    assert re.search(r"Réessayez dans 1[45] min", locked.text)
    assert SESSION_COOKIE not in locked.headers.get("set-cookie", "")


def test_unknown_account_answers_like_a_known_one(hub: RunningHub) -> None:
    with httpx.Client(base_url=hub.base_url) as client:
        response = login(client, "nobody@ekilibre.fr", "whatever-password")
    assert response.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in response.text


def test_removed_user_and_role_refusal(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    with staff.client(hub.base_url, headers={"Accept": "text/html"}) as client:
        refused = client.get("/admin/users")
        assert refused.status_code == 403
        assert refused.headers[REFUSED_HEADER] == "role"
        assert "Accès refusé" in refused.text
        assert client.get("/staff").status_code == 200
        with hub.runtime.sessions.begin() as session:
            assert remove_user(session, staff.user_id)
        after = client.get("/staff")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


def test_api_tokens_by_bearer_and_revocation(hub: RunningHub) -> None:
    token = api_token(hub.runtime.sessions, Role.STAFF)
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=hub.base_url) as client:
        snapshot = client.get("/staff/snapshot.json", headers=bearer)
        assert snapshot.status_code == 200
        assert snapshot.json()["sites"][0]["site_id"] == "ekilibre"
        page = client.get("/staff", headers=bearer)  # pages are for people
        assert page.status_code == 403
        assert page.headers[REFUSED_HEADER] == "token"
        bad = client.get("/staff/snapshot.json", headers={"Authorization": "Bearer vvt_nope"})
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == "Bearer"
        with hub.runtime.sessions.begin() as session:
            row = session.query(ApiToken).one()
            assert row.token_hash == digest(token)  # stored hashed, never in clear
            assert token.startswith(row.prefix)
            assert len(row.prefix) < len(token)
            assert revoke_token(session, row.id)
        assert client.get("/staff/snapshot.json", headers=bearer).status_code == 401


def test_https_public_url_makes_cookies_secure(config: HubConfig) -> None:
    data: dict[str, Any] = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["http"]["public_url"] = "https://vivant.ekilibre.fr"
    with running_hub(HubConfig.model_validate(data)) as hub:
        sign_in(hub.runtime.sessions, Role.STAFF, email="sam@ekilibre.fr")
        with httpx.Client(base_url=hub.base_url) as client:
            form = client.get("/login")
            assert "Secure" in form.headers["set-cookie"]
            assert form.headers["strict-transport-security"].startswith("max-age=")
            # httpx keeps a Secure cookie away from http: send the nonce by hand.
            nonce = form.cookies[LOGIN_COOKIE]
            response = client.post(
                "/login",
                data={"email": "sam@ekilibre.fr", "password": PASSWORD,
                      "csrf_token": form_token(form.text)},
                headers={"Cookie": f"{LOGIN_COOKIE}={nonce}"},
            )  # fmt: skip
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]


def test_two_sign_in_tabs_both_work(hub: RunningHub) -> None:
    sign_in(hub.runtime.sessions, Role.STAFF, email="tabs@ekilibre.fr")
    with httpx.Client(base_url=hub.base_url) as client:
        first = form_token(client.get("/login").text)
        second = form_token(client.get("/login?lang=en").text)
        assert first == second
        response = client.post(
            "/login", data={"email": "tabs@ekilibre.fr", "password": PASSWORD, "csrf_token": first}
        )
    assert response.status_code == 303


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(config: HubConfig) -> None:
    """Behind a reverse proxy every request comes from the proxy: with ``trusted_proxies`` the
    address limit counts the client named in X-Forwarded-For, so one client cannot lock out all."""
    data: dict[str, Any] = config.model_dump(mode="json")
    data["mqtt"].pop("password", None)
    data["http"]["trusted_proxies"] = ["127.0.0.0/8"]
    with running_hub(HubConfig.model_validate(data)) as hub:
        sign_in(hub.runtime.sessions, Role.STAFF, email="real@ekilibre.fr")
        attacker = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}  # forged left part ignored
        with httpx.Client(base_url=hub.base_url, headers=attacker) as client:
            for i in range(MAX_FAILURES_PER_ADDRESS):
                login(client, f"guess{i}@ekilibre.fr", "whatever-password")
            assert login(client, "real@ekilibre.fr", PASSWORD).status_code == 429
        colleague = {"X-Forwarded-For": "198.51.100.8"}
        with httpx.Client(base_url=hub.base_url, headers=colleague) as client:
            assert login(client, "real@ekilibre.fr", PASSWORD).status_code == 303
        with hub.runtime.sessions() as session:
            ips = set(session.scalars(select(LoginFailure.ip)))
    assert ips == {"198.51.100.7"}
