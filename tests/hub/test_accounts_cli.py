"""``vivant hub add-user`` creates an account in the configured database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from hub.db.engine import make_engine, make_sessionmaker
from hub.db.models import User
from vivant.cli import main

CONFIG = """\
database: {url: "DB_URL"}
sites:
  - id: ekilibre
    name: éKilibre
    rooms: [{id: accueil, name: Accueil, kind: lobby}]
"""


def test_add_user_with_a_password_file(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(CONFIG.replace("DB_URL", db_url), encoding="utf-8")
    password = tmp_path / "password"
    password.write_text("une phrase de passe solide\n", encoding="utf-8")
    args = ["hub", "add-user", "--config", str(config), "Camille@Ekilibre.fr", "--role", "admin",
            "--password-file", str(password), "--name", "Camille"]  # fmt: skip
    assert main(args) == 0
    assert "camille@ekilibre.fr created (admin)" in capsys.readouterr().out
    assert main(args) == 2  # the same account again
    assert "already exists" in capsys.readouterr().err
    password.write_text("court\n", encoding="utf-8")
    assert main(["hub", "--config", str(config), "add-user", "lea@ekilibre.fr", "--role",
                 "staff", "--password-file", str(password)]) == 2  # fmt: skip
    assert "at least 10 characters" in capsys.readouterr().err
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            users = session.scalars(select(User)).all()
    finally:
        engine.dispose()
    assert [(u.email, u.role, u.name) for u in users] == [
        ("camille@ekilibre.fr", "admin", "Camille")
    ]
    assert users[0].password_hash.startswith("$argon2id$")


def test_add_user_needs_a_config_and_a_known_role(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["hub", "add-user", "a@ekilibre.fr", "--role", "admin"])
    with pytest.raises(SystemExit):
        main(["hub", "add-user", "--config", str(tmp_path / "x.yaml"), "a@b.fr", "--role", "root"])
