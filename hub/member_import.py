"""Import members from the CSV exports of coworking platforms (Nexudus, OfficeRnD, spreadsheets).

Exports differ in their column names, separator and encoding, so the reader is tolerant where
it is safe and strict where it matters:

- separator ``,``, ``;`` or tab (French spreadsheets use ``;``), encoding UTF-8 (with or without
  BOM) or Windows-1252 (Excel on Windows);
- columns are recognised by name, case, accents and punctuation ignored (:data:`COLUMNS`):
  first and last name, or one full-name column split at its first space; e-mail; the platform's
  id (``external_ref``, the key that makes a re-import update instead of duplicate); language.
  Other columns (plan, company, phone…) are ignored and listed, never stored;
- every line is checked before anything is written (:func:`parse_members`), and the import is one
  transaction (:func:`apply_import`): a file with one bad line imports nothing, and the staff see
  every error with its line number.

A member found by platform id, else by e-mail, is updated; otherwise created. Consents are never
imported: a platform export cannot say what a member allowed Vivant to do (no row, no
permission), so imported members start with none.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import EMAIL
from hub.db.models import Member

MAX_BYTES = 2_000_000
MAX_ROWS = 10_000
NAME_MAX = 80
REF_MAX = 128

COLUMNS: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "first", "given name", "prenom"),
    "last_name": ("last name", "lastname", "surname", "family name", "nom de famille", "nom"),
    "full_name": (
        "full name",
        "fullname",
        "name",
        "member name",
        "coworker",
        "nom complet",
        "coworker name",
    ),
    "email": (
        "email",
        "e mail",
        "email address",
        "e mail address",
        "mail",
        "courriel",
        "adresse e mail",
        "adresse email",
    ),
    "external_ref": (
        "id",
        "member id",
        "coworker id",
        "external id",
        "external ref",
        "reference",
        "ref",
        "identifiant",
        "customer id",
    ),
    "language": ("language", "langue", "locale", "preferred language"),
}
LANGUAGES = {
    "fr": "fr",
    "francais": "fr",
    "french": "fr",
    "en": "en",
    "anglais": "en",
    "english": "en",
}


def N_(message: str) -> str:
    """Mark *message* for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line (1 = the header) cannot be imported; ``msgid`` is translated when shown."""

    line: int
    msgid: str
    params: dict[str, str | int] = field(default_factory=dict)

    def text(self) -> str:
        """The message in English (logs, command line)."""
        return self.msgid % self.params


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One valid line."""

    line: int
    first_name: str
    last_name: str | None
    email: str | None
    external_ref: str | None
    language: str


@dataclass
class ParsedFile:
    """The outcome of reading a file: rows, errors, and what was recognised."""

    rows: list[MemberRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did."""

    created: int
    updated: int


def _key(header: str) -> str:
    plain = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", plain.lower()).strip()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def parse_members(data: bytes) -> ParsedFile:
    """Read and check a CSV export; nothing is written."""
    result = ParsedFile()
    if len(data) > MAX_BYTES:
        result.errors.append(LineError(0, N_("The file is larger than 2 MB.")))
        return result
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        result.errors.append(LineError(1, N_("The file is empty or is not a CSV file.")))
        return result
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        key = _key(title)
        name = next((f for f, aliases in COLUMNS.items() if key in aliases), None)
        if name is not None and name not in positions:
            positions[name] = index
            result.columns[name] = title.strip()
        elif title.strip():
            result.ignored.append(title.strip())
    if "first_name" not in positions and "full_name" not in positions:
        result.errors.append(
            LineError(1, N_("No column with the first name or the full name was found."))
        )
        return result
    seen_emails: dict[str, int] = {}
    seen_refs: dict[str, int] = {}
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if number - 1 > MAX_ROWS:
                result.errors.append(LineError(number, N_("More than 10,000 lines.")))
                break
            row = _row(number, cells, positions, result.errors, seen_emails, seen_refs)
            if row is not None:
                result.rows.append(row)
    except csv.Error as error:
        result.errors.append(
            LineError(reader.line_num, N_("Unreadable CSV: %(error)s"), {"error": str(error)})
        )
    if not result.rows and not result.errors:
        result.errors.append(LineError(2, N_("The file has no member line.")))
    return result


def _row(
    number: int,
    cells: list[str],
    positions: dict[str, int],
    errors: list[LineError],
    seen_emails: dict[str, int],
    seen_refs: dict[str, int],
) -> MemberRow | None:
    def cell(name: str) -> str:
        index = positions.get(name)
        return _clean(cells[index]) if index is not None and index < len(cells) else ""

    first, last = cell("first_name"), cell("last_name")
    if not first and cell("full_name"):
        first, _, rest = cell("full_name").partition(" ")
        last = last or rest
    email = cell("email").lower()
    ref = cell("external_ref")
    language = LANGUAGES.get(_key(cell("language"))) if cell("language") else "fr"
    before = len(errors)
    if not first:
        errors.append(LineError(number, N_("The first name is missing.")))
    elif len(first) > NAME_MAX or len(last) > NAME_MAX:
        errors.append(LineError(number, N_("A name is longer than 80 characters.")))
    if email and (not EMAIL.match(email) or len(email) > 254):
        errors.append(
            LineError(number, N_("%(email)s is not an e-mail address."), {"email": email})
        )
    elif email and email in seen_emails:
        errors.append(
            LineError(
                number,
                N_("The e-mail %(email)s is already on line %(other)d."),
                {"email": email, "other": seen_emails[email]},
            )
        )
    if len(ref) > REF_MAX:
        errors.append(LineError(number, N_("The id is longer than 128 characters.")))
    elif ref and ref in seen_refs:
        errors.append(
            LineError(
                number,
                N_("The id %(ref)s is already on line %(other)d."),
                {"ref": ref, "other": seen_refs[ref]},
            )
        )
    if language is None:
        errors.append(
            LineError(
                number,
                N_("Unknown language %(language)s (fr or en)."),
                {"language": cell("language")},
            )
        )
    if len(errors) > before:
        return None
    if email:
        seen_emails[email] = number
    if ref:
        seen_refs[ref] = number
    return MemberRow(number, first, last or None, email or None, ref or None, language or "fr")


def apply_import(session: Session, rows: list[MemberRow], now: datetime) -> ImportResult:
    """Create or update every row, inside the caller's transaction (all or nothing).

    Raises :class:`ImportConflict` when a row's e-mail belongs to another member than the one
    its id designates (the caller rolls back)."""
    created = updated = 0
    for row in rows:
        member = None
        if row.external_ref:
            member = session.scalar(select(Member).where(Member.external_ref == row.external_ref))
        if member is None and row.email:
            member = session.scalar(select(Member).where(Member.email == row.email))
        if member is None:
            member = Member(created_at=now, first_name=row.first_name)
            session.add(member)
            created += 1
        else:
            updated += 1
        if row.email and row.email != member.email:
            holder = session.scalar(select(Member.id).where(Member.email == row.email))
            if holder is not None and holder != member.id:
                raise ImportConflict(
                    LineError(
                        row.line,
                        N_("The e-mail %(email)s belongs to another member."),
                        {"email": row.email},
                    )
                )
        member.first_name = row.first_name
        member.last_name = row.last_name
        member.email = row.email or member.email
        member.external_ref = row.external_ref or member.external_ref
        member.language = row.language
        session.flush()
    return ImportResult(created, updated)


class ImportConflict(Exception):
    """A row contradicts the database; nothing must be imported."""

    def __init__(self, error: LineError) -> None:
        super().__init__(error.text())
        self.error = error
