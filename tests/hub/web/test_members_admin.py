"""Admin member pages over real HTTP: the CSV import (check, errors per line, all or nothing)
and the read-only view of the configured sites."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from hub.accounts import Role
from hub.db.models import Member
from tests.support.accounts import sign_in
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port

GOOD = (
    "Prénom;Nom;E-mail;Identifiant\n"
    "Camille;Durand;camille@example.fr;N-1\n"
    "Léa;Roux;lea@example.fr;N-2\n"
).encode("cp1252")  # a French spreadsheet saved by Excel on Windows
BAD = "First name,Email\nAna,ana@example.fr\n,nobody@example.fr\nBob,pas-une-adresse\n"


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    config = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    )
    with running_hub(config) as running:
        yield running


def members(hub: RunningHub) -> int:
    with hub.runtime.sessions() as session:
        return int(session.scalar(select(func.count(Member.id))) or 0)


def test_csv_import_checks_then_imports_everything_or_nothing(hub: RunningHub) -> None:
    admin = sign_in(hub.runtime.sessions, Role.ADMIN)
    csrf = {"csrf_token": admin.csrf}
    with admin.client(hub.base_url) as client:
        assert "Importer un export CSV" in client.get("/admin/members").text
        bad = client.post("/admin/members/import", data=csrf,
                          files={"file": ("export.csv", BAD.encode(), "text/csv")})  # fmt: skip
        assert bad.status_code == 400
        assert "Rien n’a été importé" in bad.text
        assert "Ligne 3 : Le prénom manque." in bad.text
        assert "Ligne 4 : pas-une-adresse n’est pas une adresse e-mail." in bad.text
        assert members(hub) == 0  # Ana's valid line was not imported either
        upload = {"file": ("membres.csv", GOOD, "text/csv")}
        check = client.post("/admin/members/import", data={**csrf, "check_only": "true"},
                            files=upload)  # fmt: skip
        assert check.status_code == 200
        assert "2 lignes valides sur 2." in check.text
        assert members(hub) == 0
        done = client.post("/admin/members/import", data=csrf, files=upload)
        assert "Importés : 2 nouveaux membres, 0 mis à jour." in done.text
        assert "Camille Durand" in done.text
        assert members(hub) == 2
        no_csrf = client.post("/admin/members/import",
                              files=upload)  # fmt: skip
        assert no_csrf.status_code == 403


def test_sites_page_shows_the_configuration(hub: RunningHub) -> None:
    admin = sign_in(hub.runtime.sessions, Role.ADMIN)
    with admin.client(hub.base_url) as client:
        html = client.get("/admin/sites").text
    assert "éKilibre" in html
    assert "Cuisine" in html
    assert "entree" in html
    assert f"/screens/{SITE}/hall" in html
