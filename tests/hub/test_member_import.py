"""CSV exports of coworking platforms: checked line by line, imported all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.db.models import Member
from hub.member_import import ImportConflict, apply_import, parse_members
from hub.members import add_member

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

# Nexudus-like: comma, full name, a BOM, columns that must not be kept.
NEXUDUS = (
    "\ufeffCoworker Id,Full name,Email,Company name,Tariff,Mobile\r\n"
    "1042,Camille Durand,Camille@Ekilibre.fr,Durand SARL,Résident,+33600000000\r\n"
    "1043,Léa,lea@example.fr,,Nomade,\r\n"
)
# OfficeRnD-like from a French spreadsheet: semicolons, Windows-1252, French headers.
FRENCH = "Prénom;Nom;E-mail;Identifiant;Langue\nInès;Martin;ines@example.fr;A-7;anglais\n"


def test_nexudus_like_export() -> None:
    parsed = parse_members(NEXUDUS.encode("utf-8"))
    assert parsed.errors == []
    assert parsed.columns == {"external_ref": "Coworker Id", "full_name": "Full name",
                              "email": "Email"}  # fmt: skip
    assert parsed.ignored == ["Company name", "Tariff", "Mobile"]
    assert [(r.line, r.first_name, r.last_name, r.email, r.external_ref) for r in parsed.rows] == [
        (2, "Camille", "Durand", "camille@ekilibre.fr", "1042"),
        (3, "Léa", None, "lea@example.fr", "1043"),
    ]


def test_french_spreadsheet_in_windows_1252() -> None:
    parsed = parse_members(FRENCH.encode("cp1252"))
    assert parsed.errors == []
    row = parsed.rows[0]
    assert (row.first_name, row.last_name, row.email, row.external_ref, row.language) == (
        "Inès", "Martin", "ines@example.fr", "A-7", "en",
    )  # fmt: skip


def test_every_bad_line_is_reported_with_its_number() -> None:
    text = (
        "First name,Last name,Email,Member ID,Language\n"
        "Ana,B,ana@example.fr,1,fr\n"
        ",Sans,nobody@example.fr,2,fr\n"
        "Bob,C,pas-une-adresse,3,fr\n"
        "Cléo,D,ana@example.fr,4,fr\n"
        "Dan,E,dan@example.fr,1,fr\n"
        "Eve,F,eve@example.fr,6,klingon\n"
        "\n"
    )
    parsed = parse_members(text.encode())
    assert [(e.line, e.text()) for e in parsed.errors] == [
        (3, "The first name is missing."),
        (4, "pas-une-adresse is not an e-mail address."),
        (5, "The e-mail ana@example.fr is already on line 2."),
        (6, "The id 1 is already on line 2."),
        (7, "Unknown language klingon (fr or en)."),
    ]
    assert [r.first_name for r in parsed.rows] == ["Ana"]


def test_files_that_are_not_member_lists() -> None:
    assert parse_members(b"").errors[0].line == 1
    no_name = parse_members(b"Email,Company\na@b.fr,X\n")
    assert no_name.errors[0].text() == "No column with the first name or the full name was found."
    assert parse_members(b"First name\n").errors[0].text() == "The file has no member line."
    assert parse_members(b"x" * 2_000_001).errors[0].text() == "The file is larger than 2 MB."


def test_import_creates_updates_and_is_all_or_nothing(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        add_member(session, "Cam", email="camille@ekilibre.fr")
    rows = parse_members(NEXUDUS.encode()).rows
    with sessions.begin() as session:
        result = apply_import(session, rows, NOW)
    assert (result.created, result.updated) == (1, 1)
    with sessions.begin() as session:  # a re-import matches by platform id: nothing duplicated
        again = apply_import(session, rows, NOW)
    assert (again.created, again.updated) == (0, 2)
    with sessions() as session:
        members = session.scalars(select(Member).order_by(Member.id)).all()
        assert [(m.first_name, m.last_name, m.external_ref, m.consents) for m in members] == [
            ("Camille", "Durand", "1042", []), ("Léa", None, "1043", []),
        ]  # fmt: skip
    # Line 3 takes Léa's address for member 1042: the whole file is refused.
    clash = parse_members(b"Id,Name,Email\n9,Zoe Z,zoe@example.fr\n1042,Camille D,lea@example.fr\n")
    assert clash.errors == []
    with pytest.raises(ImportConflict) as caught, sessions.begin() as session:
        apply_import(session, clash.rows, NOW)
    assert caught.value.error.line == 3
    with sessions() as session:
        assert session.scalar(select(Member).where(Member.external_ref == "9")) is None
