"""Greetings composed in the tap's transaction: who is going (consented names only), and the
moments of the day, kept until one changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db.engine import make_engine, make_sessionmaker
from hub.db.models import Consent, Member, Moment
from hub.greeting import MOMENTS_CACHE_S, Greeter
from hub.members import add_member
from hub.moments import add_moment, cancel_moment
from hub.rsvp import join

TAP = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 10:00 in Paris


def moment(session: Session, config: HubConfig, title: str, in_minutes: int) -> int:
    start = TAP + timedelta(minutes=in_minutes)
    row = add_moment(session, config.sites[0], room_id="cuisine", title=title, kind="lunch",
                     starts_at=start, ends_at=start + timedelta(hours=1), now=TAP)  # fmt: skip
    session.flush()
    return row.id


def titles(greeter: Greeter, sessions: sessionmaker[Session], config: HubConfig) -> list[str]:
    with sessions() as session:
        member = session.query(Member).filter_by(first_name="Camille").one()
        greeting = greeter.greeting(session, config.sites[0], member, TAP)
    return [m.title for m in greeting.moments]


def test_greeting_carries_who_is_going_with_consented_names_only(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    with sessions.begin() as session:
        camille = add_member(session, "Camille", consents=[Consent.SCREEN_DISPLAY])
        timide = add_member(session, "Timide")
        ana = add_member(session, "Ana", consents=[Consent.SCREEN_DISPLAY])
        discret = add_member(session, "Discret")
        brunch = moment(session, site_config, "Brunch", 10)
        join(session, brunch, ana.id, TAP)
        join(session, brunch, discret.id, TAP)
    greeter = Greeter(sessions)
    with sessions() as session:
        shown = greeter.greeting(session, site_config.sites[0], session.merge(camille), TAP)
        shy = greeter.greeting(session, site_config.sites[0], session.merge(timide), TAP)
    assert shown.first_name == "Camille"
    assert [m.id for m in shown.moments] == [brunch]
    assert shown.going == {brunch: (2, ["Ana"])}
    assert shown.going_to(brunch) == (2, ["Ana"])
    assert shy.first_name is None  # no consent to be shown: a generic welcome
    assert shy.going_to(brunch) == (2, ["Ana"])


def test_moments_of_the_day_are_kept_until_one_changes(
    sessions: sessionmaker[Session], site_config: HubConfig
) -> None:
    now = [0.0]
    greeter = Greeter(sessions, clock=lambda: now[0])
    with sessions.begin() as session:
        add_member(session, "Camille", consents=[Consent.SCREEN_DISPLAY])
        breakfast = moment(session, site_config, "Petit-déjeuner", 10)
    assert titles(greeter, sessions, site_config) == ["Petit-déjeuner"]
    with sessions.begin() as session:  # this process's own changes apply at once
        lunch = moment(session, site_config, "Déjeuner", 120)
    assert titles(greeter, sessions, site_config) == ["Petit-déjeuner", "Déjeuner"]
    with sessions.begin() as session:
        cancel_moment(session, site_config.sites[0], breakfast, now=TAP)
    assert titles(greeter, sessions, site_config) == ["Déjeuner"]
    with sessions.begin() as session:  # a bulk update too
        session.execute(update(Moment).where(Moment.id == lunch).values(title="Repas"))
    assert titles(greeter, sessions, site_config) == ["Repas"]
    # Another process (its own sessions) is seen once the kept list is old enough.
    engine = make_engine(site_config.database.url)
    try:
        with make_sessionmaker(engine).begin() as session:
            moment(session, site_config, "Afterwork", 60)
    finally:
        engine.dispose()
    assert titles(greeter, sessions, site_config) == ["Repas"]
    now[0] += MOMENTS_CACHE_S
    assert titles(greeter, sessions, site_config) == ["Afterwork", "Repas"]
