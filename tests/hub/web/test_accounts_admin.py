"""Admin pages for accounts and API tokens, over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from hub.accounts import Role
from hub.db.models import ApiToken, User
from tests.support.accounts import PASSWORD, SignedIn, sign_in
from tests.support.hub_server import RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    config = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    )
    with running_hub(config) as running:
        yield running


def user_id(hub: RunningHub, email: str) -> int:
    with hub.runtime.sessions() as session:
        found = session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def test_admin_creates_changes_and_removes_accounts(hub: RunningHub) -> None:
    admin: SignedIn = sign_in(hub.runtime.sessions, Role.ADMIN)
    csrf = {"csrf_token": admin.csrf}
    with admin.client(hub.base_url) as client:
        page = client.get("/admin/users")
        assert page.status_code == 200
        assert "Comptes" in page.text
        assert "Nouveau compte" in page.text
        created = client.post("/admin/users", data={
            **csrf, "email": "Nina@Ekilibre.fr", "name": "Nina", "role": "staff",
            "language": "en", "password": PASSWORD,
        })  # fmt: skip
        assert created.status_code == 303
        assert "Compte créé." in client.get(created.headers["location"]).text
        duplicate = client.post("/admin/users", data={
            **csrf, "email": "nina@ekilibre.fr", "role": "staff", "password": PASSWORD,
        })  # fmt: skip
        assert duplicate.status_code == 400
        assert "Un compte existe déjà pour nina@ekilibre.fr." in duplicate.text
        short = client.post("/admin/users", data={
            **csrf, "email": "court@ekilibre.fr", "role": "staff", "password": "court",
        })  # fmt: skip
        assert "au moins 10 caractères" in short.text
        bad_role = client.post("/admin/users", data={
            **csrf, "email": "x@ekilibre.fr", "role": "root", "password": PASSWORD,
        })  # fmt: skip
        assert bad_role.status_code == 422
        nina = user_id(hub, "nina@ekilibre.fr")
        # Nina signs in (English, as chosen), then becomes manager, then is removed.
        with httpx.Client(base_url=hub.base_url) as browser:
            form = browser.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            browser.post("/login", data={"email": "nina@ekilibre.fr", "password": PASSWORD,
                                         "csrf_token": token.group(1)})  # fmt: skip
            assert "Dashboard" in browser.get("/staff").text
            role = client.post(f"/admin/users/{nina}/role", data={**csrf, "role": "manager"})
            assert "msg=role_changed" in role.headers["location"]
            assert "Direction" in client.get("/admin/users").text
            removed = client.post(f"/admin/users/{nina}/delete", data=csrf)
            assert "msg=removed" in removed.headers["location"]
            assert browser.get("/staff").status_code in (303, 401)
        # An admin cannot lock themselves out.
        own = client.post(f"/admin/users/{admin.user_id}/delete", data=csrf)
        assert "msg=not_yourself" in own.headers["location"]
        demote = client.post(f"/admin/users/{admin.user_id}/role", data={**csrf, "role": "staff"})
        assert "msg=not_yourself" in demote.headers["location"]
        gone = client.post("/admin/users/999999/delete", data=csrf)
        assert "msg=unknown_user" in gone.headers["location"]
    with hub.runtime.sessions() as session:
        assert session.scalars(select(User.email)).all() == [admin.email]


def test_admin_creates_a_token_shown_once_then_revokes_it(hub: RunningHub) -> None:
    admin = sign_in(hub.runtime.sessions, Role.ADMIN)
    with admin.client(hub.base_url) as client:
        created = client.post(
            "/admin/tokens", data={"csrf_token": admin.csrf, "name": "Grafana", "role": "staff"}
        )
        assert created.status_code == 200
        found = re.search(r'id="new-secret">(vvt_[A-Za-z0-9_-]+)<', created.text)
        assert found is not None
        secret = found.group(1)
        listing = client.get("/admin/tokens").text
        assert "Grafana" in listing
        assert secret not in listing  # shown once only
        bearer = {"Authorization": f"Bearer {secret}"}
        assert client.get("/staff/snapshot.json", headers=bearer).status_code == 200
        with hub.runtime.sessions() as session:
            token_id = session.scalars(select(ApiToken.id)).one()
        revoked = client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": admin.csrf})
        assert "msg=revoked" in revoked.headers["location"]
        assert "révoqué" in client.get("/admin/tokens").text
    with httpx.Client(base_url=hub.base_url) as anonymous:
        assert anonymous.get("/staff/snapshot.json", headers=bearer).status_code == 401


def test_ids_beyond_the_database_are_refused_not_a_server_error(hub: RunningHub) -> None:
    """An id past 32 bits used to reach the database, which overflowed (500)."""
    admin = sign_in(hub.runtime.sessions, Role.ADMIN)
    huge = 2**70
    with admin.client(hub.base_url, timeout=10) as client:
        form = {"csrf_token": admin.csrf}
        role = client.post(f"/admin/users/{huge}/role", data={**form, "role": "staff"})
        delete = client.post(f"/admin/users/{huge}/delete", data=form)
        revoke = client.post(f"/admin/tokens/{huge}/revoke", data=form)
        enrolment = client.post(
            f"/staff/enrolments/{huge}/cancel", data={**form, "site": "ekilibre"}
        )
    assert [r.status_code for r in (role, delete, revoke, enrolment)] == [422] * 4
