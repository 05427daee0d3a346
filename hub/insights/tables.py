"""The tables of the insights pages, one per report, and their CSV: the same cells for both.

A table is built from the report rows with :func:`hub.insights.export.flatten`, so its columns
are the export's (``result.low``, ``counts.tenant``, …), preceded by ``site``. The page shows each
cell formatted for reading (percentages, « moins de 5 membres »); the CSV writes the raw value,
a suppressed cell empty, and lists the hidden cells of each row in a last ``suppressed`` column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.insights.export import Cell, flatten
from hub.insights.privacy import Suppressed
from hub.insights.reports.full import SiteInsights

REPORTS: dict[str, Callable[[SiteInsights], Sequence[Any]]] = {
    "rooms": lambda s: s.rooms,
    "heatmap": lambda s: s.heatmap,
    "postures": lambda s: s.postures.weeks,
    "transitions": lambda s: s.postures.transitions,
    "moments": lambda s: s.moments,
    "nudges": lambda s: s.nudges,
    "conversions": lambda s: [s.conversions],
}
"""Report name (as in ``/insights/<name>.csv``) → its rows in a site's insights."""

SUPPRESSED_COLUMN = "suppressed"


@dataclass(frozen=True)
class Table:
    """One report over one or more sites: columns and rows of raw cells."""

    report: str
    columns: list[str]
    rows: list[list[Cell | Suppressed]]

    def hidden(self, row: Sequence[Cell | Suppressed]) -> list[str]:
        """The columns of *row* whose cell is suppressed."""
        return [c for c, v in zip(self.columns, row, strict=True) if isinstance(v, Suppressed)]


def table(report: str, sites: Sequence[SiteInsights]) -> Table:
    """The *report* table of *sites* (one block of rows per site, in order)."""
    rows_of = REPORTS[report]
    flat: list[dict[str, Cell | Suppressed]] = []
    for site in sites:
        for row in rows_of(site):
            flat.append({"site": site.period.site_id, **flatten(row)})
    columns: list[str] = ["site"]
    for row in flat:
        columns.extend(c for c in row if c not in columns)
    return Table(report, columns, [[row.get(c) for c in columns] for row in flat])


def csv_cell(value: Cell | Suppressed) -> str:
    """A cell as the CSV writes it: suppressed and missing cells empty."""
    if value is None or isinstance(value, Suppressed):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(data: Table) -> str:
    """The table as CSV, with the ``suppressed`` column last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*data.columns, SUPPRESSED_COLUMN])
    for row in data.rows:
        writer.writerow([csv_cell(v) for v in row] + [" ".join(data.hidden(row))])
    return buffer.getvalue()
