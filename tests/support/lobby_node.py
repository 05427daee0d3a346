"""The lobby node of the test site, with one badge reader whose LEDs show the hub's verdict.

Shared by the end-to-end tests (``tests/test_slice.py``, ``tests/edge/test_hub_feedback.py``)
and the feedback benchmark (``benchmarks/reader_feedback.py``): the same node, the same reader,
the same pins.
"""

from __future__ import annotations

from pathlib import Path

from edge.config import EdgeConfig
from tests.support.hub_server import NODE, SITE

READER = "porte"
GREEN, RED = 5, 6  # the mock GPIO pins of the reader's LEDs


def lobby_reader_config(
    broker_url: str,
    topic_root: str,
    workdir: Path,
    *,
    key: str,
    client_id: str,
    leds: bool = True,
) -> EdgeConfig:
    """The node at the test site's ``accueil``: a fake reader, no debounce, green and red LEDs
    (unless *leds* is false: then nothing drives GPIO, and no pin factory is needed).

    Keepalive and reconnection are short, so that a test or a benchmark never waits long for a
    broker it has just started.
    """
    return EdgeConfig.model_validate(
        {
            "site": SITE,
            "node": NODE,
            "rooms": ["accueil"],
            "mqtt": {
                "url": broker_url,
                "topic_root": topic_root,
                "client_id": client_id,
                "keepalive_s": 5,
            },
            "credential_key": key,
            "outbox": {"path": str(workdir / "outbox.sqlite3")},
            "reconnect": {"min_s": 0.1, "max_s": 0.5},
            "badge_readers": [
                {
                    "id": READER,
                    "room": "accueil",
                    "kind": "fake",
                    "debounce_s": 0,
                    **({"feedback": {"green_led": GREEN, "red_led": RED}} if leds else {}),
                },
            ],
        }
    )
