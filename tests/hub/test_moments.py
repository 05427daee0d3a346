"""Staff create, edit and cancel moments; the checks hold on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig, Language
from hub.db.models import Moment
from hub.i18n import gettext
from hub.moments import (
    MomentError,
    add_moment,
    cancel_moment,
    check_moment,
    edit_moment,
    normalize_tags,
    restore_moment,
    todays_moments,
)
from tests.support.hub_server import hub_config

NOW = datetime(2026, 3, 18, 8, 0, tzinfo=UTC)
START = datetime(2026, 3, 18, 13, 0, tzinfo=UTC)


def create(sessions: sessionmaker[Session], site_config: HubConfig, **extra: object) -> int:
    site = site_config.sites[0]
    with sessions.begin() as session:
        moment = add_moment(
            session,
            site,
            room_id="cuisine",
            title="  Atelier pitch  ",
            kind="workshop",
            starts_at=START,
            ends_at=START + timedelta(hours=1),
            now=NOW,
            **extra,  # type: ignore[arg-type]
        )
        session.flush()
        return moment.id


def test_add_keeps_tags_capacity_and_host(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    moment_id = create(
        sessions,
        site_config,
        tags=["Marketing", " marketing ", "Réseau"],
        capacity=12,
        host=" Camille ",
    )
    with sessions() as session:
        moment = session.get(Moment, moment_id)
        assert moment is not None
        assert (moment.title, moment.tags) == ("Atelier pitch", ["marketing", "réseau"])
        assert (moment.capacity, moment.host, moment.updated_at) == (12, "Camille", NOW)
        assert moment.feed_id is None
        assert moment.uid is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"room_id": "salle-x"}, "no room"),
        ({"title": "   "}, "needs a title"),
        ({"title": "x" * 121}, "at most 120"),
        ({"kind": "party"}, "unknown moment kind"),
        ({"starts_at": datetime(2026, 3, 18, 13, 0)}, "aware"),
        ({"ends_at": START}, "end after it starts"),
        ({"capacity": 0}, "capacity"),
        ({"host": "h" * 121}, "host"),
        ({"tags": ["t" * 33]}, "longer than 32"),
        ({"tags": [f"tag{i}" for i in range(13)]}, "at most 12 tags"),
    ],
)
def test_invalid_moments_are_refused(
    sessions: sessionmaker[Session],
    site_config: HubConfig,
    changes: dict[str, object],
    message: str,
) -> None:
    moment_id = create(sessions, site_config)
    with pytest.raises(MomentError, match=message), sessions.begin() as session:
        edit_moment(session, site_config.sites[0], moment_id, now=NOW, **changes)  # type: ignore[arg-type]
    with sessions() as session:
        moment = session.get(Moment, moment_id)
        assert moment is not None
        assert moment.title == "Atelier pitch"


def test_edit_changes_only_what_is_given(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    moment_id = create(sessions, site_config, capacity=10, host="Camille")
    later = NOW + timedelta(hours=1)
    with sessions.begin() as session:
        edit_moment(
            session,
            site,
            moment_id,
            now=later,
            room_id="open-space",
            ends_at=START + timedelta(hours=2),
            tags=["Pitch"],
            capacity=None,
        )
    with sessions() as session:
        moment = session.get(Moment, moment_id)
        assert moment is not None
        assert (moment.room_id, moment.title, moment.kind) == (
            "open-space",
            "Atelier pitch",
            "workshop",
        )
        assert moment.ends_at - moment.starts_at == timedelta(hours=2)
        assert (moment.tags, moment.capacity, moment.host) == (["pitch"], None, "Camille")
        assert moment.updated_at == later


def test_cancel_hides_from_today_and_restore_brings_back(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    site = site_config.sites[0]
    moment_id = create(sessions, site_config)
    with sessions.begin() as session:
        cancel_moment(session, site, moment_id, now=NOW)
        cancel_moment(session, site, moment_id, now=NOW + timedelta(minutes=5))
    with sessions() as session:
        moment = session.get(Moment, moment_id)
        assert moment is not None
        assert (moment.cancelled_at, moment.cancelled_by) == (NOW, "staff")
        assert todays_moments(session, site, NOW) == []
    with sessions.begin() as session:
        restore_moment(session, site, moment_id, now=NOW)
    with sessions() as session:
        assert [m.id for m in todays_moments(session, site, NOW)] == [moment_id]


def test_unknown_moment_is_a_moment_error(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with pytest.raises(MomentError, match="no moment 999"), sessions() as session:
        cancel_moment(session, site_config.sites[0], 999, now=NOW)


def test_add_moment_still_raises_value_error_for_an_unknown_room(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with pytest.raises(ValueError, match="no room"), sessions() as session:
        add_moment(
            session,
            site_config.sites[0],
            room_id="salle-x",
            title="Yoga",
            kind="sport",
            starts_at=START,
            ends_at=START + timedelta(hours=1),
        )


def test_normalize_tags() -> None:
    assert normalize_tags(["  Éco  responsable ", "", "éco responsable", "IA"]) == [
        "éco responsable",
        "ia",
    ]


def test_a_refusal_reads_in_english_for_the_api_and_in_french_on_the_pages() -> None:
    site = hub_config("mqtt://127.0.0.1:1883", "unused/v1", "sqlite://").sites[0]
    with pytest.raises(MomentError) as caught:
        check_moment(
            site, room_id="cave", title="Atelier", kind="workshop",
            starts_at=START, ends_at=START + timedelta(hours=1),
        )  # fmt: skip
    error = caught.value
    assert str(error) == "site 'ekilibre' has no room 'cave'"
    french = gettext(Language.FR, error.msgid) % error.params
    assert french == "le site 'ekilibre' n’a pas de salle 'cave'"
