"""The insights page in a real browser (Chromium through Playwright) against a real hub filled
by the synthetic generator: signed in as a manager, every chart is drawn by the vendored Chart.js
(canvas with pixels), no console error and no Content-Security-Policy violation; a screenshot
goes to ``test-artifacts/insights-fr-1080p.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from hub.accounts import Role
from hub.config import HubConfig
from tests.hub.web.test_insights import fill
from tests.hub.web.test_staff_browser import Console, sign_in_browser
from tests.support.browser import ARTIFACTS, screenshot
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, tmp_path: Path) -> Iterator[RunningHub]:
    data: dict[str, Any] = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}", port=free_port(),
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    with running_hub(HubConfig.model_validate(data)) as running:
        fill(running, members=80)
        yield running


def test_insights_page_draws_its_charts(hub: RunningHub, page: Page) -> None:
    console = Console()
    console.watch(page)
    sign_in_browser(page, hub, Role.MANAGER)
    page.goto(f"{hub.base_url}/insights?site={SITE}")
    expect(page.locator("h1").first).to_contain_text("éKilibre")
    charts = page.locator("canvas.chart")
    assert charts.count() >= 4
    expect(page.locator('canvas.chart[data-rendered="1"]')).to_have_count(charts.count())
    # Drawn, not only created: every canvas has coloured pixels.
    painted = page.evaluate(
        """() => [...document.querySelectorAll("canvas.chart")].map((c) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; }
            return n;
        })"""
    )
    assert all(n > 500 for n in painted), painted
    assert page.locator("table.heat td.heat-5").count() >= 1
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Analyses")
    screenshot(page, "insights-fr-1080p")
    # The tables open, and a suppressed cell reads as words.
    page.locator("details.data summary").first.click()
    expect(page.locator("table.report").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "insights-fr-full.png"), full_page=True)
    console.assert_clean()
