"""ESPresense and Theengs Gateway messages become sightings of Vivant rooms, or are refused.

Payload samples follow the sources' own code and docs: ESPresense ``BleFingerprint::fill()``
(mac, id, idType, rssi@1m, rssi, raw, channel, distance, var, int) and Theengs Gateway
``publish_json()`` with a Theengs Decoder iBeacon (id, rssi, brand, model, model_id, mfid, uuid,
major, minor, txpower).
"""

from __future__ import annotations

import json
from itertools import count

import pytest
from pydantic import ValidationError

from hub.thirdparty import (
    AnonymousTally,
    EspresenseMapping,
    KnownIrk,
    TheengsMapping,
    ThirdPartySettings,
    ThirdPartySighting,
    WindowCounts,
    espresense_tag_candidates,
    ibeacon_tag,
    parse_espresense,
    parse_theengs,
    subscriptions,
    unknown_rooms,
)
from vivant.wire.errors import Rejected, RejectReason
from vivant.wire.payloads import MAX_PAYLOAD_BYTES

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SETTINGS = ThirdPartySettings(
    espresense=[
        EspresenseMapping(espresense_room="kitchen", site="ekilibre", room="cuisine"),
        EspresenseMapping(
            espresense_room="rooftop", site="viry", room="rooftop", base_topic="site2/espresense"
        ),
    ],
    theengs=[
        TheengsMapping(site="ekilibre", room="open_space"),
        TheengsMapping(gateway="salle_reunion", site="ekilibre", room="reunion"),
    ],
)
BADGE_BEACON = "iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-100-7"
ESP_BEACON = {
    "mac": "d0b5c2a1f3e4",
    "id": "iBeacon:E2C56DB5-DFFB-48D2-B060-D0F5A71096E0-100-7",
    "idType": 180,
    "rssi@1m": -59,
    "rssi": -71,
    "raw": 3.98,
    "channel": 38,
    "rssi38": -71,
    "raw38": 3.98,
    "distance": 2.81,
    "mean": 2.9,
    "var": 0.35,
    "ci": 0.33,
    "int": 1024,
}
ESP_IPHONE = {
    "mac": "6c8e1a2b3c4d",
    "id": "apple:1005:9-26",
    "idType": 150,
    "rssi@1m": -59,
    "rssi": -78.4,
    "raw": 7.1,
    "distance": 6.3,
    "var": 1.2,
    "int": 250,
}
THEENGS_BEACON = {
    "id": "60:87:57:4C:9B:C2",
    "rssi": -78,
    "brand": "GENERIC",
    "model": "iBeacon",
    "model_id": "IBEACON",
    "mfid": "4c00",
    "uuid": "1de4b189115e45f6b44e509352269977",
    "major": 0,
    "minor": 12,
    "txpower": -66,
}
THEENGS_BEACON_TAG = "iBeacon:1de4b189-115e-45f6-b44e-509352269977-0-12"


def raw(data: object) -> bytes:
    return json.dumps(data).encode()


def esp(
    data: object,
    topic: str = "espresense/devices/some-id/kitchen",
    enrolled: frozenset[str] = frozenset(),
    tally: AnonymousTally | None = None,
) -> ThirdPartySighting | None:
    return parse_espresense(
        topic, raw(data), SETTINGS, enrolled=enrolled, ts_ms=NOW, pseudonyms=tally
    )


def theengs(
    data: object,
    topic: str = "home/TheengsGateway/BTtoMQTT/6087574C9BC2",
    enrolled: frozenset[str] = frozenset(),
    tally: AnonymousTally | None = None,
) -> ThirdPartySighting | None:
    return parse_theengs(topic, raw(data), SETTINGS, enrolled=enrolled, ts_ms=NOW, pseudonyms=tally)


def tally(window_s: float = 60) -> AnonymousTally:
    salts = count()
    return AnonymousTally(SETTINGS.rooms(), window_s, salt=lambda: next(salts).to_bytes(16, "big"))


# -- ESPresense -------------------------------------------------------------------------------


def test_espresense_enrolled_beacon_is_a_sighting_of_the_mapped_room() -> None:
    sighting = esp(ESP_BEACON, enrolled=frozenset({BADGE_BEACON}))
    assert sighting == ThirdPartySighting(
        site="ekilibre",
        room="cuisine",
        receiver="espresense:kitchen",
        tag=BADGE_BEACON,
        rssi=-71,
        ts_ms=NOW,
        distance=2.81,
    )


def test_espresense_unknown_device_only_counts() -> None:
    sighting = esp(ESP_BEACON, tally=tally())
    assert sighting is not None
    assert (sighting.tag, sighting.anonymous) == (None, 1)
    assert sighting.device_key is not None
    text = repr(sighting).lower()  # neither the address nor the beacon id is kept
    assert "d0b5c2a1f3e4" not in text
    assert "e2c56db5" not in text


def test_shared_fingerprints_never_identify_even_if_enrolled_by_mistake() -> None:
    sighting = esp(ESP_IPHONE, enrolled=frozenset({"apple:1005:9-26"}), tally=tally())
    assert sighting is not None
    assert sighting.tag is None
    assert sighting.rssi == -78.4


def test_unknown_device_without_a_tally_has_no_key() -> None:
    sighting = esp(ESP_IPHONE)
    assert sighting is not None
    assert (sighting.anonymous, sighting.device_key) == (1, None)


def test_espresense_custom_base_topic() -> None:
    sighting = esp(ESP_BEACON, topic="site2/espresense/devices/x/rooftop")
    assert sighting is not None
    assert (sighting.site, sighting.room, sighting.receiver) == (
        "viry",
        "rooftop",
        "espresense:rooftop",
    )


@pytest.mark.parametrize(
    "topic",
    [
        "espresense/devices/some-id/garage",  # a room nobody mapped
        "espresense/rooms/kitchen/status",  # node settings, not a sighting
        "espresense/devices/kitchen",
        "other/devices/some-id/kitchen",
        "site2/espresense/devices/x/kitchen",  # kitchen is mapped under the other base
    ],
)
def test_espresense_unmapped_topics_are_ignored_without_reading_the_payload(topic: str) -> None:
    assert parse_espresense(topic, b"\xff not json", SETTINGS, enrolled=(), ts_ms=NOW) is None


def test_sightings_beyond_the_maximum_distance_are_ignored() -> None:
    near = SETTINGS.model_copy(update={"max_distance_m": 5.0})
    far = {**ESP_BEACON, "distance": 8.2}
    topic = "espresense/devices/x/kitchen"
    assert parse_espresense(topic, raw(far), near, enrolled=(), ts_ms=NOW) is None
    assert parse_espresense(topic, raw(ESP_BEACON), near, enrolled=(), ts_ms=NOW) is not None


@pytest.mark.parametrize(
    ("device_id", "candidates"),
    [
        (
            "iBeacon:E2C56DB5-DFFB-48D2-B060-D0F5A71096E0-100-7",
            ["iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-100-7"],
        ),
        (
            "altBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-2",
            ["altBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-1-2"],
        ),
        ("iBeacon:not-a-uuid-1-2", []),
        ("iBeacon:e2c56db5-dffb-48d2-b060-d0f5a71096e0-70000-1", []),
        # Namespace edd1ebeac04e5defa017; the firmware prints its byte 4 (c0) twice.
        (
            "eddy:edd1ebeac0c04e5defa017-0123456789ab",
            ["eddystone:edd1ebeac04e5defa017-0123456789ab"],
        ),
        ("eddy:edd1ebeac04e5defa017-0123456789ab", ["eddystone:edd1ebeac04e5defa017-0123456789ab"]),
        ("eddy:edd1ebeac0ff4e5defa017-0123456789ab", []),
        ("d0b5c2a1f3e4", ["mac:d0b5c2a1f3e4"]),
        ("known:D0B5C2A1F3E4", ["mac:d0b5c2a1f3e4", "known:D0B5C2A1F3E4"]),
        ("tile:c1d2e3f4a5b6", ["mac:c1d2e3f4a5b6", "tile:c1d2e3f4a5b6"]),
        ("apple:1005:9-26", []),
        ("apple:findmy", []),
        ("md:0075:24", []),
        ("sd:fe9f", []),
        ("msft:cdp:0109", []),
        ("exp:20", []),
        ("smarttag:21", []),
        ("name:whoop-4a2b", ["name:whoop-4a2b"]),
        ("alice-phone", ["alias:alice-phone"]),
        ("phone:alice", ["phone:alice"]),
        ("name:café", []),  # not a valid tag id
    ],
)
def test_espresense_id_mapping(device_id: str, candidates: list[str]) -> None:
    assert espresense_tag_candidates(device_id) == candidates


IRK = "00112233445566778899aabbccddeeff"


def test_known_irks_match_the_phone_enrolled_on_vivant_nodes() -> None:
    with_irk = SETTINGS.model_copy(
        update={
            "known_irks": [KnownIrk(id="alice-phone", key="00112233 44556677 8899AABB CCDDEEFF")]
        }
    )
    assert with_irk.irk_ids() == {IRK: "alice-phone"}
    assert espresense_tag_candidates(f"irk:{IRK}", with_irk.irk_ids()) == ["irk:alice-phone"]
    assert espresense_tag_candidates(f"irk:{IRK}") == []  # an unlisted IRK only counts
    assert espresense_tag_candidates("irk:alice-phone") == ["irk:alice-phone"]  # an alias
    sighting = parse_espresense(
        "espresense/devices/x/kitchen",
        raw({**ESP_IPHONE, "id": f"irk:{IRK}", "idType": 200}),
        with_irk,
        enrolled={"irk:alice-phone"},
        ts_ms=NOW,
    )
    assert sighting is not None
    assert sighting.tag == "irk:alice-phone"
    assert IRK not in repr(sighting)
    assert IRK not in repr(with_irk)  # the key is a secret


def test_known_irks_are_checked() -> None:
    with pytest.raises(ValidationError, match="32 hex"):
        KnownIrk(id="alice-phone", key="1234")
    with pytest.raises(ValidationError, match="listed twice"):
        ThirdPartySettings(known_irks=[KnownIrk(id="a", key=IRK), KnownIrk(id="a", key="f" * 32)])


def test_ibeacon_tag_normalises_the_uuid() -> None:
    assert ibeacon_tag("1DE4B189115E45F6B44E509352269977", 1, 2) == (
        "iBeacon:1de4b189-115e-45f6-b44e-509352269977-1-2"
    )
    assert ibeacon_tag("1de4", 1, 2) is None
    assert ibeacon_tag("1de4b189115e45f6b44e509352269977", -1, 2) is None


# -- rejections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.MALFORMED_JSON),
        (b"\xff\xfe", RejectReason.MALFORMED_JSON),
        (b'{"id": "a", "rssi": NaN}', RejectReason.MALFORMED_JSON),
        (b"[" * 5000 + b"]" * 5000, RejectReason.MALFORMED_JSON),
        (b'["id", "rssi"]', RejectReason.INVALID_PAYLOAD),
        (b'{"rssi": -70}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "", "rssi": -70}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": 42, "rssi": -70}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "a"}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "a", "rssi": "-70"}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "a", "rssi": true}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "a", "rssi": -128}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "a", "rssi": -70, "distance": -1}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "a", "rssi": -70, "distance": "far"}', RejectReason.INVALID_PAYLOAD),
    ],
)
def test_espresense_bad_payloads_are_rejected_with_a_reason(
    payload: bytes, reason: RejectReason
) -> None:
    with pytest.raises(Rejected) as caught:
        parse_espresense("espresense/devices/a/kitchen", payload, SETTINGS, enrolled=(), ts_ms=NOW)
    assert caught.value.reason is reason


def test_oversized_payloads_are_rejected_before_parsing() -> None:
    huge = raw({**ESP_BEACON, "name": "x" * MAX_PAYLOAD_BYTES})
    for parse, topic in (
        (parse_espresense, "espresense/devices/a/kitchen"),
        (parse_theengs, "home/TheengsGateway/BTtoMQTT/6087574C9BC2"),
    ):
        with pytest.raises(Rejected) as caught:
            parse(topic, huge, SETTINGS, enrolled=(), ts_ms=NOW)
        assert caught.value.reason is RejectReason.TOO_LARGE


# -- Theengs Gateway ---------------------------------------------------------------------------


def test_theengs_enrolled_ibeacon() -> None:
    sighting = theengs(THEENGS_BEACON, enrolled=frozenset({THEENGS_BEACON_TAG}))
    assert sighting == ThirdPartySighting(
        site="ekilibre",
        room="open_space",
        receiver="theengs:TheengsGateway",
        tag=THEENGS_BEACON_TAG,
        rssi=-78,
        ts_ms=NOW,
    )


def test_theengs_fixed_address_tag_matches_by_mac() -> None:
    tag_payload = {"id": "C1:D2:E3:F4:A5:B6", "rssi": -64, "name": "Tile", "distance": 1.5}
    sighting = theengs(
        tag_payload,
        topic="home/salle_reunion/BTtoMQTT/C1D2E3F4A5B6",
        enrolled=frozenset({"mac:c1d2e3f4a5b6"}),
    )
    assert sighting is not None
    assert (sighting.room, sighting.receiver, sighting.tag, sighting.distance) == (
        "reunion",
        "theengs:salle_reunion",
        "mac:c1d2e3f4a5b6",
        1.5,
    )


@pytest.mark.parametrize(
    "payload",
    [
        THEENGS_BEACON,
        # An undecoded advertisement (publish_all) from a phone.
        {
            "id": "7A:1B:2C:3D:4E:5F",
            "rssi": -90,
            "manufacturerdata": "4c0010051b1c8a2f4e",
            "mfr": "Apple, Inc.",
        },
        # A decoded sensor, as in Theengs Gateway's documentation.
        {
            "name": "F35285",
            "id": "F3:52:85",
            "rssi": -82,
            "brand": "BlueMaestro",
            "model": "TempoDisc",
            "model_id": "BM_V23",
            "tempc": 24.1,
        },
        # Decoder fields of the wrong type are ignored, not trusted.
        {**THEENGS_BEACON, "major": "0", "uuid": 5},
    ],
)
def test_theengs_unknown_devices_only_count(payload: dict[str, object]) -> None:
    sighting = theengs(payload, tally=tally())
    assert sighting is not None
    assert (sighting.tag, sighting.anonymous) == (None, 1)
    assert sighting.device_key is not None
    device_id = str(payload["id"])
    text = repr(sighting).lower()
    assert device_id.lower() not in text
    assert device_id.replace(":", "").lower() not in text


def test_theengs_tracker_timeout_is_not_a_sighting() -> None:
    assert theengs({"id": "60:87:57:4C:9B:C2", "presence": "absent"}) is None


@pytest.mark.parametrize(
    "topic",
    [
        "home/OtherGateway/BTtoMQTT/6087574C9BC2",
        "home/TheengsGateway/BTtoMQTT/undecoded",
        "home/TheengsGateway/BTtoMQTT",
        "home/TheengsGateway/presence",
        "home/TheengsGateway/BTtoMQTT/6087574C9BC2/extra",
    ],
)
def test_theengs_unmapped_topics_are_ignored(topic: str) -> None:
    assert parse_theengs(topic, b"{", SETTINGS, enrolled=(), ts_ms=NOW) is None


def test_theengs_bad_payloads_are_rejected() -> None:
    topic = "home/TheengsGateway/BTtoMQTT/6087574C9BC2"
    for payload, reason in (
        (b"nope", RejectReason.MALFORMED_JSON),
        (b'{"rssi": -70}', RejectReason.INVALID_PAYLOAD),
        (b'{"id": "60:87:57:4C:9B:C2", "rssi": 99}', RejectReason.INVALID_PAYLOAD),
    ):
        with pytest.raises(Rejected) as caught:
            parse_theengs(topic, payload, SETTINGS, enrolled=(), ts_ms=NOW)
        assert caught.value.reason is reason


# -- settings and subscriptions ---------------------------------------------------------------


def test_subscriptions_cover_exactly_the_mapped_sources() -> None:
    assert subscriptions(SETTINGS) == [
        "espresense/devices/+/kitchen",
        "home/TheengsGateway/BTtoMQTT/+",
        "home/salle_reunion/BTtoMQTT/+",
        "site2/espresense/devices/+/rooftop",
    ]
    assert subscriptions(ThirdPartySettings()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"espresense": [{"espresense_room": "Kitchen", "site": "a", "room": "b"}]}, "room"),
        ({"espresense": [{"espresense_room": "k", "site": "hub", "room": "b"}]}, "reserved"),
        ({"espresense": [{"espresense_room": "k", "site": "a", "room": "B b"}]}, "room"),
        (
            {"espresense": [{"espresense_room": "k", "site": "a", "room": "b", "base_topic": "#"}]},
            "wildcards",
        ),
        ({"theengs": [{"gateway": "a/b", "site": "a", "room": "b"}]}, "single topic level"),
        ({"theengs": [{"gateway": "gw+", "site": "a", "room": "b"}]}, "wildcards"),
        ({"theengs": [{"site": "a", "room": "b", "base_topic": "home//x"}]}, "wildcards"),
        (
            {
                "espresense": [
                    {"espresense_room": "k", "site": "a", "room": "b"},
                    {"espresense_room": "k", "site": "a", "room": "c"},
                ]
            },
            "mapped twice",
        ),
        (
            {"theengs": [{"site": "a", "room": "b"}, {"site": "a", "room": "c"}]},
            "mapped twice",
        ),
        ({"espresense": [{"espresense_room": "k", "site": "a", "room": "b", "x": 1}]}, "extra"),
    ],
)
def test_invalid_settings_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ThirdPartySettings.model_validate(data)


def test_every_setting_is_described() -> None:
    for model in (ThirdPartySettings, EspresenseMapping, TheengsMapping, KnownIrk):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


def test_unknown_rooms_are_reported_for_the_hub_configuration() -> None:
    known = {("ekilibre", "cuisine"), ("ekilibre", "open_space"), ("viry", "rooftop")}
    assert unknown_rooms(SETTINGS, known) == [
        "theengs 'salle_reunion' maps to unknown room ekilibre/reunion"
    ]


def test_a_sighting_is_either_enrolled_or_anonymous() -> None:
    with pytest.raises(ValueError, match="either"):
        ThirdPartySighting("a", "b", "r", None, -70, NOW)
    with pytest.raises(ValueError, match="either"):
        ThirdPartySighting("a", "b", "r", "mac:aabbccddeeff", -70, NOW, anonymous=1)
    with pytest.raises(ValueError, match="device key"):
        ThirdPartySighting("a", "b", "r", "mac:aabbccddeeff", -70, NOW, device_key="k")


# -- anonymous tally ---------------------------------------------------------------------------


def anonymous(t: AnonymousTally, device: str, ts_ms: int, room: str = "cuisine") -> None:
    key = t.pseudonym(device, ts_ms)
    t.add(ThirdPartySighting("ekilibre", room, "r", None, -70, ts_ms, anonymous=1, device_key=key))


def test_tally_counts_distinct_devices_per_room_and_window() -> None:
    t = tally(window_s=60)
    start = NOW  # NOW is on a minute boundary
    assert t.counts(start) is None
    for second in range(0, 60, 5):  # one phone advertising all minute
        anonymous(t, "6c8e1a2b3c4d", start + second * 1000)
    anonymous(t, "7a1b2c3d4e5f", start + 10_000)
    anonymous(t, "112233445566", start + 20_000, room="open_space")
    assert t.counts(start + 59_000) is None  # the first window is not complete yet
    assert t.counts(start + 61_000) == WindowCounts(
        end_ms=start + 60_000,
        counts={
            ("ekilibre", "cuisine"): 2,
            ("ekilibre", "open_space"): 1,
            ("ekilibre", "reunion"): 0,
            ("viry", "rooftop"): 0,
        },
    )


def test_tally_keys_cannot_be_linked_across_windows() -> None:
    t = tally(window_s=60)
    first = t.pseudonym("6c8e1a2b3c4d", NOW)
    assert t.pseudonym("6c8e1a2b3c4d", NOW + 30_000) == first
    assert t.pseudonym("6c8e1a2b3c4d", NOW + 60_000) != first
    assert "6c8e1a2b3c4d" not in first


def test_tally_forgets_quiet_windows_and_late_sightings() -> None:
    t = tally(window_s=60)
    anonymous(t, "6c8e1a2b3c4d", NOW)
    anonymous(t, "7a1b2c3d4e5f", NOW + 60_000)
    anonymous(t, "112233445566", NOW + 30_000)  # arrives after its window closed
    counts = t.counts(NOW + 125_000)  # the window [60 s, 120 s) closed, nothing after it
    assert counts is not None
    assert counts.end_ms == NOW + 120_000
    assert counts.counts[("ekilibre", "cuisine")] == 1
    later = t.counts(NOW + 300_000)
    assert later is not None
    assert later.counts[("ekilibre", "cuisine")] == 0


def test_tally_ignores_enrolled_sightings_and_needs_keys_for_unknown_ones() -> None:
    t = tally()
    t.add(ThirdPartySighting("ekilibre", "cuisine", "r", "mac:aabbccddeeff", -70, NOW))
    with pytest.raises(ValueError, match="pseudonyms"):
        t.add(ThirdPartySighting("ekilibre", "cuisine", "r", None, -70, NOW, anonymous=1))
    with pytest.raises(ValueError, match="positive"):
        AnonymousTally([], window_s=0)


def test_parsers_and_tally_work_together() -> None:
    t = tally()
    for second, phone in ((1, "6c8e1a2b3c4d"), (6, "6c8e1a2b3c4d"), (9, "6c8e1a2b3c4e")):
        sighting = parse_espresense(
            "espresense/devices/apple:1005:9-26/kitchen",
            raw({**ESP_IPHONE, "mac": phone}),  # two iPhones share this fingerprint id
            SETTINGS,
            enrolled=(),
            ts_ms=NOW + second * 1000,
            pseudonyms=t,
        )
        assert sighting is not None
        t.add(sighting)
    counts = t.counts(NOW + 60_000)
    assert counts is not None
    assert counts.counts[("ekilibre", "cuisine")] == 2
