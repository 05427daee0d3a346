"""Calendar feeds configured for a site are synchronised by the running hub and exported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from icalendar import Calendar, Event
from sqlalchemy import select

from hub.accounts import Role
from hub.config import HubConfig
from hub.db.models import CalendarFeed, Moment
from tests.support.accounts import api_token
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.waiting import wait_until


def staff_headers(hub: RunningHub) -> dict[str, str]:
    """An integration's API token (the moments API is for staff)."""
    return {"Authorization": f"Bearer {api_token(hub.runtime.sessions, Role.STAFF)}"}


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


async def test_moments_api_lists_creates_edits_and_cancels(
    system_broker_url: str, topic_root: str, tmp_path: Path
) -> None:
    data = hub_config(
        system_broker_url, topic_root, f"sqlite:///{tmp_path / 'hub.db'}",
        client_id=f"hub-{topic_root[:9]}",
    ).model_dump(mode="json")  # fmt: skip
    data["mqtt"].pop("password", None)
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    body = {
        "room_id": "cuisine",
        "title": "  Atelier pitch ",
        "kind": "workshop",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "tags": ["Pitch", "pitch", "business"],
        "capacity": 12,
    }
    with running_hub(HubConfig.model_validate(data)) as hub:
        headers = staff_headers(hub)
        async with httpx.AsyncClient(base_url=f"{hub.base_url}/api", headers=headers) as client:
            created = await client.post(f"/sites/{SITE}/moments", json=body)
            moment = created.json()
            wrong_room = await client.post(
                f"/sites/{SITE}/moments", json={**body, "room_id": "cave"}
            )
            naive = await client.post(
                f"/sites/{SITE}/moments", json={**body, "starts_at": "2026-03-10T10:00:00"}
            )
            unknown_field = await client.post(f"/sites/{SITE}/moments", json={**body, "x": 1})
            no_site = await client.get("/sites/nowhere/moments")
            edited = await client.patch(
                f"/moments/{moment['id']}", json={"title": "Atelier pitch (complet)", "host": None}
            )
            backwards = await client.patch(
                f"/moments/{moment['id']}", json={"ends_at": start.isoformat()}
            )
            null_title = await client.patch(f"/moments/{moment['id']}", json={"title": None})
            listed = await client.get(f"/sites/{SITE}/moments")
            cancelled = await client.post(f"/moments/{moment['id']}/cancel")
            after_cancel = await client.get(f"/sites/{SITE}/moments")
            with_cancelled = await client.get(
                f"/sites/{SITE}/moments", params={"include_cancelled": "true"}
            )
            restored = await client.post(f"/moments/{moment['id']}/restore")
            missing = await client.get("/moments/999999")
    assert created.status_code == 201
    assert moment["title"] == "Atelier pitch"
    assert moment["tags"] == ["pitch", "business"]
    assert (moment["going"], moment["seats_left"], moment["cancelled"]) == (0, 12, False)
    assert wrong_room.status_code == 422
    assert wrong_room.json()["detail"] == "site 'ekilibre' has no room 'cave'"
    assert naive.status_code == 422
    assert unknown_field.status_code == 422
    assert no_site.status_code == 404
    assert edited.json()["title"] == "Atelier pitch (complet)"
    assert edited.json()["capacity"] == 12
    assert backwards.status_code == 422
    assert backwards.json()["detail"] == "a moment must end after it starts"
    assert null_title.status_code == 422
    assert [m["id"] for m in listed.json()] == [moment["id"]]
    assert cancelled.json()["cancelled"] is True
    assert after_cancel.json() == []
    assert [m["cancelled"] for m in with_cancelled.json()] == [True]
    assert restored.json()["cancelled"] is False
    assert missing.status_code == 404


def test_ids_beyond_the_database_and_null_fields_get_422_as_the_schema_says(
    system_broker_url: str, topic_root: str, db_url: str
) -> None:
    """Found by schemathesis: an id past 32 bits answered 500 (the database overflowed), and a
    refusal's ``detail`` (a sentence) did not match the declared 422 schema (a list)."""
    config = hub_config(system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}")
    with running_hub(config) as hub:
        headers = staff_headers(hub)
        with httpx.Client(base_url=hub.base_url, headers=headers, timeout=10) as client:
            huge = 2**70
            assert client.get(f"/api/moments/{huge}").status_code == 422
            assert client.patch(f"/api/moments/{huge}", json={}).status_code == 422
            assert client.post(f"/api/moments/{huge}/cancel").status_code == 422
            assert client.post(f"/api/moments/{huge}/restore").status_code == 422
            assert client.get(f"/api/moments/{2**31 - 1}").status_code == 404
            null = client.patch("/api/moments/1", json={"starts_at": None})
            assert null.status_code == 422
            assert null.json() == {"detail": "starts_at cannot be null"}
            schema = client.get("/openapi.json").json()
        refusal = schema["paths"]["/api/moments/{moment_id}"]["patch"]["responses"]["422"]
        ref = refusal["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        detail = schema["components"]["schemas"][ref]["properties"]["detail"]
        assert {option["type"] for option in detail["anyOf"]} == {"string", "array"}
