"""The demo world: the operator's three spaces, their rooms, members with habits, today's moments.

Everything is deterministic (seeded) so the README can name a demo member and their badge.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ZONE = "Europe/Paris"
ENTRANCE_NODE = "entree"
ENTRANCE_ROOM = "accueil"
ENTRANCE_READER = "porte"
SCREEN = "hall"

# The member the README uses for its mosquitto_pub example.
README_MEMBER = "Camille"
README_UID = "04A1B2C3D4E5F6"
README_SITE = "ekilibre"


@dataclass(frozen=True)
class DemoSite:
    """A site with its rooms (id, name, kind, capacity) and its demo credential key."""

    id: str
    name: str
    rooms: tuple[tuple[str, str, str, int | None], ...]
    credential_key: str
    moment_rooms: dict[str, str]  # moment kind -> room id


SITES: tuple[DemoSite, ...] = (
    DemoSite(
        id="ekilibre",
        name="éKilibre",
        rooms=(
            ("accueil", "Accueil", "lobby", None),
            ("open-space", "Open space", "desk", 24),
            ("bureaux", "Bureaux privatifs", "desk", 10),
            ("cuisine", "Cuisine", "community", 16),
            ("atelier", "Salle d’atelier", "community", 30),
            ("reunion", "Salle de réunion", "meeting", 8),
            ("cabine", "Cabine téléphonique", "phone_booth", 1),
        ),
        credential_key="demo-ekilibre-credential-key",
        moment_rooms={
            "breakfast": "cuisine",
            "workshop": "atelier",
            "afterwork": "cuisine",
            "other": "cuisine",
        },
    ),
    DemoSite(
        id="un-bureau-et-plus",
        name="Un Bureau & Plus",
        rooms=(
            ("accueil", "Accueil", "lobby", None),
            ("open-space", "Open space", "desk", 30),
            ("bureaux", "Bureaux", "desk", 12),
            ("cafe", "Le Café", "community", 20),
            ("salon", "Salon", "community", 12),
            ("reunion", "Salle de réunion", "meeting", 10),
        ),
        credential_key="demo-un-bureau-et-plus-credential-key",
        moment_rooms={
            "breakfast": "cafe",
            "workshop": "salon",
            "afterwork": "cafe",
            "other": "cafe",
        },
    ),
    DemoSite(
        id="rooftop-viry",
        name="Le Rooftop de Viry",
        rooms=(
            ("accueil", "Accueil", "lobby", None),
            ("plateau", "Plateau", "desk", 28),
            ("rooftop", "Rooftop", "community", 40),
            ("cuisine", "Cuisine", "community", 14),
            ("reunion", "Salle de réunion", "meeting", 8),
        ),
        credential_key="demo-rooftop-viry-credential-key",
        moment_rooms={
            "breakfast": "cuisine",
            "workshop": "rooftop",
            "afterwork": "rooftop",
            "other": "cuisine",
        },
    ),
)

_FIRST_NAMES = (
    "Camille", "Léa", "Hugo", "Inès", "Lucas", "Chloé", "Nathan", "Manon", "Yanis", "Sarah",
    "Théo", "Jade", "Karim", "Zoé", "Mathis", "Amina", "Louis", "Emma", "Rayan", "Lina",
    "Noah", "Anaïs", "Sacha", "Clara", "Malik", "Julie", "Adam", "Nora", "Gabriel", "Eva",
    "Antoine", "Maëlle", "Bilal", "Pauline", "Victor", "Salomé",
)  # fmt: skip
HABITS = ("coworker", "tenant", "occasional", "absent")


@dataclass(frozen=True)
class DemoMember:
    """A demo member: their badge UID exists only in the demo's simulated cards."""

    first_name: str
    site_id: str
    uid: str
    habit: str
    shows_on_screens: bool


def members(seed: int = 7) -> list[DemoMember]:
    """Twelve members per site with mixed habits; most allow their first name on screens."""
    rng = random.Random(seed)
    out = []
    for index, name in enumerate(_FIRST_NAMES):
        site = SITES[index % len(SITES)]
        uid = README_UID if name == README_MEMBER else f"04{rng.getrandbits(48):012X}"
        out.append(
            DemoMember(
                first_name=name,
                site_id=README_SITE if name == README_MEMBER else site.id,
                uid=uid,
                habit=HABITS[index % len(HABITS)],
                shows_on_screens=name == README_MEMBER or rng.random() < 0.75,
            )
        )
    return out


@dataclass(frozen=True)
class DemoMoment:
    """A moment of today at a demo site."""

    site_id: str
    room_id: str
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime


def moments_today(now: datetime) -> list[DemoMoment]:
    """Each site's usual day, plus two moments just ahead so the demo always has something on."""
    zone = ZoneInfo(ZONE)
    local = now.astimezone(zone)
    day = local.date()

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=zone)

    quarter = local.replace(second=0, microsecond=0) + timedelta(minutes=15 - local.minute % 15)
    out = []
    for site in SITES:
        rooms = site.moment_rooms
        plan: list[tuple[str, str, datetime, datetime]] = [
            ("breakfast", "Petit-déjeuner des coworkers", at(9, 30), at(10, 30)),
            ("workshop", "Atelier : trouver ses premiers clients", at(14), at(15, 30)),
            ("afterwork", "Afterwork de la communauté", at(18, 30), at(20)),
            ("other", "Pause café : qui fait quoi ici ?", quarter, quarter + timedelta(minutes=30)),
            ("workshop", "Atelier express : LinkedIn en 30 minutes", quarter + timedelta(hours=1),
             quarter + timedelta(hours=1, minutes=30)),
        ]  # fmt: skip
        for kind, title, start, end in plan:
            if start.date() != day:
                continue
            out.append(DemoMoment(site.id, rooms[kind], title, kind, start, end))
    return out


def hub_config_data(broker_url: str, http_port: int, database_url: str) -> dict[str, Any]:
    """The hub configuration of the demo (written out as YAML for people to read)."""
    return {
        "mqtt": {"url": broker_url, "client_id": "vivant-demo-hub"},
        "database": {"url": database_url},
        "http": {"host": "127.0.0.1", "port": http_port},
        "sites": [
            {
                "id": site.id,
                "name": site.name,
                "timezone": ZONE,
                "rooms": [
                    {"id": rid, "name": name, "kind": kind}
                    | ({"capacity": capacity} if capacity else {})
                    for rid, name, kind, capacity in site.rooms
                ],
                "nodes": [{"id": ENTRANCE_NODE, "rooms": [ENTRANCE_ROOM]}],
                "screens": [{"id": SCREEN, "name": "Hall d’entrée"}],
            }
            for site in SITES
        ],
    }
