"""The managers' insights pages over real HTTP, on SQLite and PostgreSQL, with a synthetic
population: the page's tables are exactly the CSV exports, suppressed cells included; a staff
account is refused; bad periods are refused with a clear error."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from hub.accounts import Role
from hub.config import HubConfig
from hub.insights.synthetic import SyntheticSpec, generate
from hub.insights.tables import REPORTS
from hub.web.insights import default_period
from tests.support.accounts import sign_in
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port

WEEKS = 6


def synthetic_spec(now: datetime, members: int = 40) -> SyntheticSpec:
    """A population over the last :data:`WEEKS` complete weeks (the default period inside)."""
    _, end = default_period("Europe/Paris", now)
    return SyntheticSpec(
        seed=5,
        sites=1,
        members_per_site=members,
        start=end - timedelta(weeks=WEEKS),
        days=WEEKS * 7,
    )


def fill(hub: RunningHub, members: int = 40) -> None:
    """Write a synthetic population into the hub's database and bring the rollups up to date."""
    now = datetime.now(UTC)
    with hub.runtime.sessions.begin() as session:
        generate(session, synthetic_spec(now, members))
    hub.runtime.refresh_insights(now)


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    data: dict[str, Any] = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    ).model_dump(mode="json")
    data["mqtt"].pop("password", None)
    with running_hub(HubConfig.model_validate(data)) as running:
        fill(running)
        yield running


@dataclass
class PageTable:
    """A report table as the page shows it: column names, cells, flags."""

    columns: list[str]
    rows: list[list[tuple[str, str, bool]]]  # (raw value, text, suppressed)


class Tables(HTMLParser):
    """Reads every ``table.report`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[PageTable]] = {}
        self._table: PageTable | None = None
        self._cell: list[Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-report"):
            self._table = PageTable([], [])
            self.tables.setdefault(a["data-report"] or "", []).append(self._table)
        elif self._table is None:
            return
        elif tag == "th" and "data-column" in a:
            self._table.columns.append(a["data-column"] or "")
        elif tag == "tr":
            self._table.rows.append([])
        elif tag == "td" and "data-value" in a:
            self._cell = [a["data-value"] or "", "", a.get("data-suppressed") == "1"]

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table is not None:
            self._table.rows[-1].append((self._cell[0], self._cell[1].strip(), self._cell[2]))
            self._cell = None
        elif tag == "table":
            if self._table is not None:
                self._table.rows = [r for r in self._table.rows if r]
            self._table = None


def page_tables(html: str) -> dict[str, list[PageTable]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def test_page_tables_are_the_csv_exports(hub: RunningHub) -> None:
    manager = sign_in(hub.runtime.sessions, Role.MANAGER)
    with manager.client(hub.base_url) as client:
        page = client.get("/insights", params={"site": SITE})
        assert page.status_code == 200, page.text
        html = page.text
        tables = page_tables(html)
        assert set(tables) == set(REPORTS)
        assert 'class="chart"' in html
        assert "/static/vendor/chart.umd.min.js" in html
        start, end = default_period("Europe/Paris", datetime.now(UTC))
        assert f'value="{start.isoformat()}"' in html
        assert f'value="{(end - timedelta(days=1)).isoformat()}"' in html
        suppressed_seen = 0
        for report, (shown,) in tables.items():
            response = client.get(f"/insights/{report}.csv", params={"site": SITE})
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(response.text)))
            header, body = rows[0], rows[1:]
            assert header == [*shown.columns, "suppressed"], report
            assert len(body) == len(shown.rows), report
            for csv_row, page_row in zip(body, shown.rows, strict=True):
                assert csv_row[:-1] == [raw for raw, _text, _flag in page_row], report
                flagged = [
                    c for c, (_r, _t, hidden) in zip(shown.columns, page_row, strict=True) if hidden
                ]
                assert csv_row[-1].split() == flagged, report
                for raw, text, hidden in page_row:
                    if hidden:
                        suppressed_seen += 1
                        assert raw == ""
                        assert text == "moins de 5 membres"
        # The rooms used as private offices, the weeks of postures, the moments: real figures.
        assert len(tables["rooms"][0].rows) >= 3
        assert len(tables["postures"][0].rows) == 4  # the four weeks of the default period
        assert tables["nudges"][0].rows, "the uplift table is empty"
        # 40 members: some groups (transitions, reach) are small and must be hidden.
        assert suppressed_seen > 0


def test_all_sites_and_a_chosen_period(hub: RunningHub) -> None:
    manager = sign_in(hub.runtime.sessions, Role.ADMIN)
    _, end = default_period("Europe/Paris", datetime.now(UTC))
    first, last = end - timedelta(weeks=2), end - timedelta(days=1)
    with manager.client(hub.base_url) as client:
        page = client.get("/insights", params={"site": "all", "from": str(first), "to": str(last)})
        assert page.status_code == 200
        weeks = page_tables(page.text)["postures"][0].rows
        assert [w[1][0] for w in weeks] == [str(first), str(first + timedelta(weeks=1))]
        assert all(w[0][0] == SITE for w in weeks)
        export = client.get(
            "/insights/postures.csv", params={"site": "all", "from": str(first), "to": str(last)}
        )
        assert export.headers["content-disposition"] == (
            f'attachment; filename="vivant-postures-all-{first}-{last}.csv"'
        )
        assert len(export.text.strip().splitlines()) == 3


@pytest.mark.parametrize(
    ("query", "status", "message", "french"),
    [
        ({"site": "nowhere"}, 404, "unknown site", "site inconnu"),
        ({"from": "2026-13-01"}, 400, "YYYY-MM-DD", "AAAA-MM-JJ"),
        ({"from": "2026-06-10", "to": "2026-06-01"}, 400, "must end after", "finir après"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, 400, "cannot be longer", "dépasser 400"),
    ],
)
def test_bad_queries_are_refused(
    system_broker_url: str, topic_root: str, tmp_path: Any, query: dict[str, str], status: int,
    message: str, french: str,
) -> None:  # fmt: skip
    config = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(),
    )  # fmt: skip
    with running_hub(config) as hub:
        manager = sign_in(hub.runtime.sessions, Role.MANAGER)
        with manager.client(hub.base_url) as client:
            export = client.get("/insights/rooms.csv", params=query)
            assert export.status_code == status
            assert message in export.text
            page = client.get("/insights", params=query)
            assert page.status_code == status
            assert '<p class="error" role="alert" id="message">' in page.text
            assert french in page.text
            assert '<form class="panel period"' in page.text
            assert client.get("/insights/secrets.csv").status_code == 404


def test_staff_are_refused(hub: RunningHub) -> None:
    staff = sign_in(hub.runtime.sessions, Role.STAFF)
    with staff.client(hub.base_url) as client:
        assert client.get("/insights").status_code == 403
        assert client.get("/insights/rooms.csv").status_code == 403
        dashboard = client.get("/staff").text
        assert 'href="/insights"' not in dashboard
    manager = sign_in(hub.runtime.sessions, Role.MANAGER)
    with manager.client(hub.base_url) as client:
        assert 'href="/insights"' in client.get("/staff").text


def test_default_period_is_four_complete_weeks_in_site_time() -> None:
    # Monday 00:30 in Paris is still Sunday in UTC: the week that just ended is included.
    start, end = default_period("Europe/Paris", datetime(2026, 11, 22, 23, 30, tzinfo=UTC))
    assert (start, end) == (date(2026, 10, 26), date(2026, 11, 23))
    start, end = default_period("Europe/Paris", datetime(2026, 11, 22, 22, 30, tzinfo=UTC))
    assert end == date(2026, 11, 16)


def test_english_manager_reads_english(hub: RunningHub) -> None:
    manager = sign_in(hub.runtime.sessions, Role.MANAGER, language="en")
    with manager.client(hub.base_url) as client:
        html = client.get("/insights").text
    assert "Rooms: use against capacity" in html
    assert "moins de 5 membres" not in html
    hidden = [
        text
        for tables in page_tables(html).values()
        for table in tables
        for row in table.rows
        for _raw, text, flag in row
        if flag
    ]
    assert hidden
    assert set(hidden) == {"fewer than 5 members"}


def test_a_repeated_view_is_cached_until_new_rollups_land(hub: RunningHub) -> None:
    reports, pages = hub.runtime.insights_reports, hub.runtime.insights_pages
    reports.clear()
    pages.clear()
    start, end = default_period("Europe/Paris", datetime.now(UTC))
    query = {"site": SITE}
    french = sign_in(hub.runtime.sessions, Role.MANAGER)
    english = sign_in(hub.runtime.sessions, Role.ADMIN, language="en")
    with french.client(hub.base_url) as client:
        first = client.get("/insights", params=query).text
        assert (reports.misses, reports.hits) == (1, 0)
        assert client.get("/insights", params=query).text == first
        assert pages.hits == 1  # the page itself, rendered once
        assert reports.misses == 1
        # The CSV of the same page reuses the computed report.
        assert client.get("/insights/rooms.csv", params=query).status_code == 200
        assert (reports.misses, reports.hits) == (1, 1)
    with english.client(hub.base_url) as client:
        html = client.get("/insights", params=query).text
        assert "Rooms: use against capacity" in html  # another language: another page …
        assert (reports.misses, reports.hits) == (1, 2)  # … from the same report

    # New data in the period, rolled up: the next view computes the report again.
    with hub.runtime.sessions.begin() as session:
        generate(
            session,
            SyntheticSpec(
                seed=9, sites=1, members_per_site=5, start=end - timedelta(days=7), days=5
            ),
        )
    hub.runtime.refresh_insights(datetime.now(UTC))
    with french.client(hub.base_url) as client:
        again = client.get("/insights", params=query).text
    assert reports.misses == 2
    assert again != first
    # A past period, untouched: still served from the cache after the refresh.
    earlier = {"site": SITE, "from": str(start - timedelta(weeks=2)), "to": str(start)}
    with french.client(hub.base_url) as client:
        client.get("/insights", params=earlier)
        client.get("/insights", params=earlier)
    assert reports.misses == 3
