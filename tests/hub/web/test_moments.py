"""Calendar feeds configured for a site are synchronised by the running hub and exported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from icalendar import Calendar, Event
from sqlalchemy import select

from hub.config import HubConfig
from hub.db.models import CalendarFeed, Moment
from tests.support.hub_server import SITE, hub_config, running_hub
from tests.support.waiting import wait_until


def write_feed(path: Path) -> None:
    calendar = Calendar()
    calendar.add("prodid", "-//test//vivant//FR")
    calendar.add("version", "2.0")
    event = Event()
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    event.add("uid", "afterwork-1@test")
    event.add("summary", "Afterwork sur le toit")
    event.add("location", "Cuisine")
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(hours=2))
    calendar.add_component(event)
    path.write_bytes(calendar.to_ical())


async def test_configured_feed_is_synced_at_start_and_exported(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    feed = tmp_path / "community.ics"
    write_feed(feed)
    data = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}",
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    data["sites"][0]["calendar_feeds"] = [
        {"url": str(feed), "room": "accueil", "name": "Agenda de la communauté"}
    ]
    with running_hub(HubConfig.model_validate(data)) as hub:

        def synced() -> bool:
            with hub.runtime.sessions() as session:
                return session.scalar(select(Moment)) is not None

        wait_until(synced, within=10, what="moments imported from the feed")
        with hub.runtime.sessions() as session:
            moment = session.scalars(select(Moment)).one()
            status = session.scalars(select(CalendarFeed)).one()
        assert (moment.title, moment.room_id, moment.kind) == (
            "Afterwork sur le toit", "cuisine", "afterwork",
        )  # fmt: skip
        assert status.last_error is None
        assert status.last_ok_at is not None
        async with httpx.AsyncClient(base_url=hub.base_url) as client:
            response = await client.get(f"/sites/{SITE}/moments.ics")
            missing = await client.get("/sites/nowhere/moments.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    exported = Calendar.from_ical(response.content)
    assert [str(e.get("summary")) for e in exported.walk("VEVENT")] == ["Afterwork sur le toit"]
    assert missing.status_code == 404
