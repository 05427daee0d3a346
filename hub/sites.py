"""Mirror the configured sites, rooms and nodes into the database at start."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.db.models import CalendarFeed, Node, Room, Site


def sync_sites(session: Session, config: HubConfig) -> None:
    """Insert or update every configured site, room, node and calendar feed (never deletes)."""
    for site_settings in config.sites:
        site = session.get(Site, site_settings.id) or Site(id=site_settings.id)
        site.name = site_settings.name
        site.timezone = site_settings.timezone
        session.add(site)
        session.flush()
        for room_settings in site_settings.rooms:
            room = session.get(Room, (site.id, room_settings.id)) or Room(
                site_id=site.id, id=room_settings.id
            )
            room.name = room_settings.name
            room.kind = room_settings.kind.value
            room.capacity = room_settings.capacity
            session.add(room)
        for feed_settings in site_settings.calendar_feeds:
            url = feed_settings.url.get_secret_value()
            feed = session.scalar(
                select(CalendarFeed).where(
                    CalendarFeed.site_id == site.id, CalendarFeed.url_or_path == url
                )
            ) or CalendarFeed(site_id=site.id, url_or_path=url)
            feed.room_id = feed_settings.room
            feed.default_kind = feed_settings.kind.value if feed_settings.kind else None
            feed.name = feed_settings.name
            session.add(feed)
        known = set(session.scalars(select(Node.id).where(Node.site_id == site.id)))
        for node_settings in site_settings.nodes:
            if node_settings.id not in known:
                session.add(Node(site_id=site.id, id=node_settings.id, status="unknown"))
