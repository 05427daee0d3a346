"""User names and ACL topics that Mosquitto reads the way we mean them."""

from __future__ import annotations

import pytest

from vivant.broker.accounts import (
    Account,
    AccountError,
    bridge_username,
    check_acl_topic,
    check_username,
    node_username,
)
from vivant.wire.topics import TopicError


@pytest.mark.parametrize("name", ["hub", "ekilibre-entree", "bridge-rooftop-viry", "a.b_c"])
def test_good_user_names(name: str) -> None:
    assert check_username(name) == name


@pytest.mark.parametrize("name", ["", "node+1", "all#", "a/b", "a b", "a:b", "..", ".hidden"])
def test_user_names_that_could_be_misread_are_refused(name: str) -> None:
    # '+' and '#' would be wildcards in a pattern, ':' ends the name in the password file, '..'
    # would escape the secrets directory, a space ends it in the ACL.
    with pytest.raises(AccountError):
        check_username(name)


@pytest.mark.parametrize(
    "topic", ["vivant/v1/#", "vivant/v1/s/+/config", "espresense/devices/+/kitchen", "#"]
)
def test_good_acl_topics(topic: str) -> None:
    assert check_acl_topic(topic) == topic


@pytest.mark.parametrize("topic", ["", "a b", "a/#/b", "a/b#", "a/+b", "a\nuser hub"])
def test_acl_topics_that_could_be_misread_are_refused(topic: str) -> None:
    with pytest.raises(AccountError):
        check_acl_topic(topic)


def test_an_account_checks_its_topics() -> None:
    with pytest.raises(AccountError):
        Account("node", "a node", write=("vivant/v1/s/n/badge\ntopic readwrite #",))


def test_user_names_of_nodes_and_bridges() -> None:
    assert node_username("un-bureau-et-plus", "entree") == "un-bureau-et-plus-entree"
    assert bridge_username("ekilibre") == "bridge-ekilibre"
    with pytest.raises(TopicError):
        node_username("hub", "entree")  # reserved site id
    with pytest.raises(TopicError):
        node_username("ekilibre", "Entrée")
