"""Leases of site groups: one holder at a time, takeover after expiry, hand back on return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.cluster import ClusterSettings, claim, holder_id, holders, lease_round, release
from hub.config import HubConfig
from tests.support.hub_server import hub_config

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SETTINGS = ClusterSettings(instances={"a": ["ekilibre"], "b": ["rooftop"]}, lease_s=15)


def test_one_holder_at_a_time_until_the_lease_runs_out(sessions: sessionmaker[Session]) -> None:
    lease = timedelta(seconds=15)
    with sessions.begin() as session:
        assert claim(session, "a", "p1", T0, lease)
        assert not claim(session, "a", "p2", T0 + timedelta(seconds=14), lease)
        assert claim(session, "a", "p1", T0 + timedelta(seconds=10), lease)  # renewed
        assert not claim(session, "a", "p2", T0 + timedelta(seconds=24), lease)
        assert claim(session, "a", "p2", T0 + timedelta(seconds=26), lease)  # ran out
        assert holders(session)["a"][0] == "p2"
        release(session, "a", "p1")  # not p1's any more: nothing happens
        assert holders(session)["a"][0] == "p2"
        release(session, "a", "p2")
        assert "a" not in holders(session)


def test_a_group_moves_when_its_process_dies_and_comes_back_when_it_returns(
    sessions: sessionmaker[Session],
) -> None:
    first_a, b = holder_id("a"), holder_id("b")

    def run(instance: str, holder: str, held: set[str], at: datetime) -> set[str]:
        with sessions.begin() as session:
            return lease_round(session, SETTINGS, instance, holder, held, at).held

    with sessions.begin() as session:  # just started: a takes nothing but its own group
        assert lease_round(
            session, SETTINGS, "a", first_a, set(), T0, may_take_over=False
        ).held == {"a"}
    held_a = {"a"}
    held_b = run("b", b, set(), T0)
    assert (held_a, held_b) == ({"a"}, {"b"})
    # a keeps renewing: b never takes its group.
    for second in range(5, 60, 5):
        held_a = run("a", first_a, held_a, T0 + timedelta(seconds=second))
        held_b = run("b", b, held_b, T0 + timedelta(seconds=second))
        assert (held_a, held_b) == ({"a"}, {"b"})
    # a dies at 55 s: b takes its group over once lease and heartbeat ran out.
    at = T0 + timedelta(seconds=65)
    assert run("b", b, held_b, at) == {"b"}
    at = T0 + timedelta(seconds=71)
    held_b = run("b", b, held_b, at)
    assert held_b == {"a", "b"}
    # a new process of instance a starts: b hands the group back, a claims it.
    second_a = holder_id("a")
    at += timedelta(seconds=1)
    assert run("a", second_a, set(), at) == set()  # b still holds it: a waits
    held_b = run("b", b, held_b, at + timedelta(seconds=1))
    assert held_b == {"b"}
    assert run("a", second_a, set(), at + timedelta(seconds=2)) == {"a"}


def test_every_site_must_be_assigned_once(db_url: str) -> None:
    base = hub_config("mqtt://127.0.0.1:1883", "vivant/v1", db_url).model_dump(mode="json")
    site = base["sites"][0]["id"]
    ok = HubConfig.model_validate({**base, "cluster": {"instances": {"a": [site]}}})
    assert ok.cluster is not None
    assert ok.cluster.group_of(site) == "a"
    for instances, message in (
        ({"a": [site], "b": [site]}, "duplicate site"),
        ({"a": [site, "nowhere"]}, "unknown sites: nowhere"),
        ({"A!": [site]}, "instance name"),
    ):
        with pytest.raises(ValueError, match=message):
            HubConfig.model_validate({**base, "cluster": {"instances": instances}})
