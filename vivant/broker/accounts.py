"""Broker accounts: who may log in, and which topics each may read and write.

User names follow one convention, which the example node configurations use too:

- a node is ``<site>-<node>`` (``ekilibre-entree``), its client id ``vivant-edge-<site>-<node>``;
- a site's bridge to the central broker is ``bridge-<site>``;
- the hub is the ``mqtt.username`` of its configuration (``hub`` if unset).

Site and node ids may themselves contain ``-``, so two pairs can give one name (site ``a-b``
node ``c`` and site ``a`` node ``b-c``): :func:`check_unique` refuses that rather than letting
two devices share an account.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from vivant.wire.topics import EdgeKind, HubKind, Topics, check_node_id, check_site_id

DEFAULT_HUB_USERNAME = "hub"
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_TOPIC_FORBIDDEN = frozenset(" \t\r\n\0")


class AccountError(ValueError):
    """The accounts cannot be written safely (a clash, a bad name or topic)."""


def check_username(value: str) -> str:
    """Return *value* if it is a safe broker user name (no wildcard, colon or space)."""
    if not _USERNAME_RE.fullmatch(value):
        raise AccountError(
            f"user name {value!r}: letters, digits, '_', '.' and '-' (not first), 128 at most"
        )
    return value


def check_acl_topic(value: str) -> str:
    """Return *value* if Mosquitto can read it in an ACL line (wildcards allowed, no space)."""
    if not value or set(value) & _TOPIC_FORBIDDEN:
        raise AccountError(f"ACL topic {value!r} must be non-empty and without spaces")
    levels = value.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise AccountError(f"ACL topic {value!r}: '#' must be a whole last level")
        if "+" in level and level != "+":
            raise AccountError(f"ACL topic {value!r}: '+' must be a whole level")
    return value


@dataclass(frozen=True, slots=True)
class Account:
    """One broker account and its topics (Mosquitto ACL filters)."""

    username: str
    description: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    readwrite: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_username(self.username)
        for topic in (*self.read, *self.write, *self.readwrite):
            check_acl_topic(topic)


def node_username(site: str, node: str) -> str:
    """Broker user name of a node."""
    return f"{check_site_id(site)}-{check_node_id(node)}"


def bridge_username(site: str) -> str:
    """Broker user name of a site's bridge at the central broker."""
    return f"bridge-{check_site_id(site)}"


def node_account(topics: Topics, site: str, node: str) -> Account:
    """A node publishes its own edge topics and reads its own ``config`` and ``command``.

    Only the edge kinds, not ``<node>/#``: a stolen node cannot write a retained ``config``
    for itself or anyone else, nor subscribe to anything but what the hub sends it.
    """
    return Account(
        username=node_username(site, node),
        description=f"node {node} at {site}",
        write=tuple(topics.node(site, node, kind) for kind in EdgeKind),
        read=tuple(topics.node(site, node, kind) for kind in HubKind),
    )


def hub_account(
    topics: Topics,
    username: str = DEFAULT_HUB_USERNAME,
    *,
    read: Iterable[str] = (),
    write: Iterable[str] = (),
) -> Account:
    """The hub reads and writes everything under the root, plus the extra topics it maps."""
    return Account(
        username=username,
        description="the hub",
        readwrite=(topics.everything,),
        read=tuple(read),
        write=tuple(write),
    )


def bridge_account(topics: Topics, site: str) -> Account:
    """A site's bridge writes the site's topics and reads its nodes' ``config`` and ``command``."""
    root = f"{topics.root}/{check_site_id(site)}"
    return Account(
        username=bridge_username(site),
        description=f"bridge of site {site}",
        write=(f"{root}/#",),
        read=tuple(f"{root}/+/{kind.value}" for kind in HubKind),
    )


def check_unique(accounts: Iterable[Account]) -> list[Account]:
    """The accounts as a list, or :class:`AccountError` if two share a user name."""
    seen: dict[str, Account] = {}
    for account in accounts:
        other = seen.get(account.username)
        if other is not None:
            raise AccountError(
                f"{account.description} and {other.description} would share the user name "
                f"{account.username!r}: rename one of them"
            )
        seen[account.username] = account
    return list(seen.values())
