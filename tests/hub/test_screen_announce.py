"""Announcements: rendered per screen from the database, never for a moment that is gone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from hub.broadcast import Broadcaster
from hub.config import HubConfig, Language
from hub.moments import add_moment, cancel_moment
from hub.screen_announce import EVENT, Announcement, announce, announcement_view

NOW = datetime(2026, 11, 26, 8, 50, tzinfo=UTC)  # 09:50 in Paris


def add(sessions: sessionmaker[Session], config: HubConfig, starts_in_min: float) -> int:
    start = NOW + timedelta(minutes=starts_in_min)
    with sessions.begin() as session:
        moment = add_moment(
            session, config.sites[0], room_id="cuisine", title="Petit-déjeuner",
            kind="breakfast", starts_at=start, ends_at=start + timedelta(hours=1),
        )  # fmt: skip
        session.flush()
        return moment.id


def view(sessions: sessionmaker[Session], config: HubConfig, moment_id: int,
         language: Language = Language.FR) -> dict[str, object] | None:  # fmt: skip
    with sessions() as session:
        return announcement_view(session, Announcement("ekilibre", moment_id, at=NOW),
                                 config.sites[0], language)  # fmt: skip


def test_announcement_says_where_and_when(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    soon = add(sessions, site_config, 10)
    card = view(sessions, site_config, soon)
    assert card is not None
    assert (card["title"], card["subtitle"], card["detail"]) == (
        "Petit-déjeuner", "Cuisine, dans 10 min", "10:00–11:00",
    )  # fmt: skip
    english = view(sessions, site_config, soon, Language.EN)
    assert english is not None
    assert (english["subtitle"], english["eyebrow"]) == ("Cuisine, in 10 min", "Don't miss it")
    later = view(sessions, site_config, add(sessions, site_config, 250))
    assert later is not None
    assert later["subtitle"] == "Cuisine, à 14:00"
    on = view(sessions, site_config, add(sessions, site_config, -5))
    assert on is not None
    assert on["subtitle"] == "Cuisine, en ce moment"


def test_no_announcement_for_a_moment_gone_over_or_elsewhere(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    assert view(sessions, site_config, 424_242) is None
    assert view(sessions, site_config, add(sessions, site_config, -61)) is None
    cancelled = add(sessions, site_config, 30)
    with sessions.begin() as session:
        cancel_moment(session, site_config.sites[0], cancelled, now=NOW)
    assert view(sessions, site_config, cancelled) is None
    elsewhere = site_config.sites[0].model_copy(update={"id": "rooftop-viry"})
    with sessions() as session:
        card = announcement_view(
            session, Announcement("rooftop-viry", add(sessions, site_config, 10), at=NOW),
            elsewhere, Language.FR,
        )  # fmt: skip
    assert card is None


async def test_announce_publishes_to_the_sites_screens() -> None:
    broadcaster = Broadcaster()
    async with broadcaster.subscribe("ekilibre") as queue, broadcaster.subscribe("other") as other:
        sent = announce(broadcaster, "ekilibre", 12)
        event = await asyncio.wait_for(queue.get(), 1)
    assert event.name == EVENT
    assert event.data == sent
    assert (sent.site_id, sent.moment_id) == ("ekilibre", 12)
    assert other.empty()
