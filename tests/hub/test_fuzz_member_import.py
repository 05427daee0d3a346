"""Fuzzing the members CSV import (the exports of coworking platforms, uploaded by staff).

Whatever the bytes, :func:`hub.member_import.parse_members` answers with rows and per-line
errors and never raises; every row it accepts is usable; every error is one of the import's own
messages (it may name the wrong e-mail, id or language of its line, for the staff member who
uploaded the file to fix it, and nothing else of the file). The regular suite runs a sample;
``./run fuzz`` the long run.
"""

from __future__ import annotations

import csv
import inspect
import io
import re

from hypothesis import given
from hypothesis import strategies as st

from hub import member_import
from hub.member_import import ParsedFile, parse_members
from tests.support.fuzzing import CANARY, fuzz, junk, mutated

SEEDS = [
    "Prénom;Nom;E-mail;Langue\nCamille;Martin;camille@example.org;fr\nYanis;;;en\n".encode(),
    b"First Name,Last Name,Email,Member ID\nInes,Durand,ines@example.org,NX-42\n",
    "\ufeffName,Email\nLéa Moreau,lea@example.org\n".encode(),
    "Prénom\tNom\nHugo\tPetit\n".encode("cp1252"),
]


MESSAGES = set(re.findall(r'N_\(\s*"([^"]+)"', inspect.getsource(member_import)))


def check(parsed: ParsedFile) -> None:
    for row in parsed.rows:
        assert row.first_name.strip()
        assert row.line >= 2  # the header is line 1
        assert row.email is None or "@" in row.email
        assert row.language in ("fr", "en")
    for error in parsed.errors:
        assert error.line >= 0
        assert error.msgid in MESSAGES  # never a message made of the input
        assert error.text()  # every message formats with its own parameters
        assert set(error.params) <= {"email", "ref", "language", "other", "error"}
        assert CANARY not in str(error.params.get("error", ""))  # the CSV reader's own words


@fuzz
@given(raw=junk())
def test_generated_bytes_never_crash_the_import(raw: bytes) -> None:
    check(parse_members(raw))


@fuzz
@given(raw=mutated(SEEDS))
def test_mutated_exports_never_crash_the_import(raw: bytes) -> None:
    check(parse_members(raw))


cells = st.one_of(
    st.text(max_size=30),
    st.just(CANARY),
    st.sampled_from(["", " ", "=1+1", "@x", "a@b", "fr", "EN", "Prénom", "Email", '"', "\n"]),
)


@fuzz
@given(
    header=st.lists(
        st.sampled_from(
            [
                "Prénom",
                "Nom",
                "Name",
                "E-mail",
                "Email",
                "Langue",
                "Member ID",
                "Téléphone",
                CANARY,
                "",
            ]
        ),
        min_size=1,
        max_size=6,
    ),
    lines=st.lists(st.lists(cells, max_size=8), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_structured_but_wrong_files_give_clean_line_errors(
    header: list[str], lines: list[list[str]], delimiter: str
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(lines)
    check(parse_members(buffer.getvalue().encode("utf-8")))
