"""CSV export of report rows: the same figures as the page, suppressed cells left empty.

Rows are the report dataclasses; nested values are flattened into ``field.sub`` columns (an
uplift becomes ``result.difference``, ``result.low``, …; a dictionary of counts becomes one
column per key). A :class:`~hub.insights.privacy.Suppressed` cell is written empty — never as a
zero — and a column ``suppressed`` lists which cells were hidden, so a spreadsheet user knows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import fields, is_dataclass
from datetime import date
from enum import Enum

from hub.insights.privacy import Suppressed
from hub.insights.stats import Arm, Uplift

Cell = str | int | float | None


def flatten(row: object, prefix: str = "") -> dict[str, Cell | Suppressed]:
    """One report row as ``{column: value}`` (nested dataclasses and dicts expanded)."""
    out: dict[str, Cell | Suppressed] = {}
    if isinstance(row, Uplift):
        out[f"{prefix}difference"] = row.difference
        out[f"{prefix}low"] = row.low
        out[f"{prefix}high"] = row.high
        out[f"{prefix}significant"] = int(row.significant)
        for name, arm in (("treatment", row.treatment), ("holdout", row.holdout)):
            out.update(flatten(arm, f"{prefix}{name}."))
        return out
    if isinstance(row, Arm):
        out[f"{prefix}decisions"] = row.trials
        out[f"{prefix}attended"] = row.successes
        out[f"{prefix}members"] = row.members
        out[f"{prefix}design_effect"] = row.design_effect
        return out
    if not is_dataclass(row) or isinstance(row, type):
        raise TypeError(f"cannot export {type(row).__name__}: not a report row")
    for field in fields(row):
        value = getattr(row, field.name)
        name = f"{prefix}{field.name}"
        if isinstance(value, Suppressed):
            out[name] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                out[f"{name}.{_text(key)}"] = _scalar(item)
        elif isinstance(value, Uplift | Arm) or (
            is_dataclass(value) and not isinstance(value, type)
        ):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = _scalar(value)
    return out


def to_csv(rows: Iterable[object]) -> str:
    """The rows as CSV text (header from the union of columns, in first-seen order)."""
    flat = [flatten(row) for row in rows]
    columns: list[str] = []
    for row in flat:
        columns.extend(c for c in row if c not in columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, "suppressed"])
    for row in flat:
        hidden = [c for c in columns if isinstance(row.get(c), Suppressed)]
        writer.writerow([_csv(row.get(c)) for c in columns] + [" ".join(hidden)])
    return buffer.getvalue()


def _scalar(value: object) -> Cell | Suppressed:
    if value is None or isinstance(value, Suppressed | int | float | str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Sequence):
        return " ".join(str(v) for v in value)
    return str(value)


def _text(key: object) -> str:
    return str(key.value) if isinstance(key, Enum) else str(key)


def _csv(value: Cell | Suppressed) -> str:
    if value is None or isinstance(value, Suppressed):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
