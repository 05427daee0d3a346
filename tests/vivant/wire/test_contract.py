"""Wire contract v1 itself: topics, payload strictness, size limit, status, commands, badges."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vivant.wire import (
    MAX_PAYLOAD_BYTES,
    Badge,
    BleWindow,
    EdgeKind,
    EnrolModeCommand,
    Feedback,
    FeedbackCommand,
    HubKind,
    HubStatusTopic,
    NodeTopic,
    OccupancyTopic,
    Rejected,
    RejectReason,
    Sensor,
    SensorKind,
    Status,
    Telemetry,
    TopicError,
    Topics,
    credential_for,
    decode_command,
    decode_config,
    decode_edge,
    decode_status,
    encode,
    normalise_uid,
)

TS = 1_741_768_034_512  # 2025-03-12T08:27:14.512Z
FIRST_VALID_TS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
LAST_VALID_TS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
KEY = "demo-ekilibre-credential-key"
CREDENTIAL = "87d56649068ef64f73aec48c97ab1e0d"  # credential_for(KEY, "04A1B2C3D4E5F6")

# No example database on disk, no deadline (the first pydantic call of a run is slow).
examples = settings(database=None, deadline=None, max_examples=200)
segments = st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True)


def raw(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def badge(**overrides: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "17.000142",
        "ts": TS,
        "room": "accueil",
        "reader": "porte",
        "credential": CREDENTIAL,
    }
    body.update(overrides)
    return body


def ble(**overrides: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "17.000143",
        "ts": TS,
        "room": "cuisine",
        "window_s": 5,
        "tags": [
            {"tag": "iBeacon:e5ca1ade-f007-ba11-0000-000000000000-100-1", "rssi": -67.5, "n": 3}
        ],
        "anonymous": 4,
    }
    body.update(overrides)
    return body


def sensor(kind: str, value: object) -> dict[str, Any]:
    return {"id": "17.000144", "ts": TS, "room": "cuisine", "kind": kind, "value": value}


def telemetry(**overrides: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ts": TS,
        "version": "esp32-badge-1.2.0",
        "uptime_s": 3600,
        "outbox_depth": 0,
        "dropped": 0,
    }
    body.update(overrides)
    return body


def feedback(**overrides: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": "feedback",
        "id": "fb1",
        "ts": TS,
        "reader": "porte",
        "badge_id": "17.000142",
        "result": "accepted",
    }
    body.update(overrides)
    return body


def rejection(call: Any, *args: object) -> RejectReason:
    with pytest.raises(Rejected) as caught:
        call(*args)
    return caught.value.reason


# -- topics -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*EdgeKind, *HubKind])
def test_node_topic_is_built_and_parsed(kind: EdgeKind | HubKind) -> None:
    topics = Topics()
    topic = topics.node("ekilibre", "esp32-accueil", kind)
    assert topic == f"vivant/v1/ekilibre/esp32-accueil/{kind.value}"
    assert topics.parse(topic) == NodeTopic(site="ekilibre", node="esp32-accueil", kind=kind)


def test_topics_under_a_configured_root() -> None:
    topics = Topics("site-a/vivant/v1")
    topic = topics.node("rooftop", "pi-1", EdgeKind.BADGE)
    assert topic == "site-a/vivant/v1/rooftop/pi-1/badge"
    assert topics.parse(topic) == NodeTopic("rooftop", "pi-1", EdgeKind.BADGE)
    assert topics.everything == "site-a/vivant/v1/#"
    with pytest.raises(TopicError):
        Topics().parse(topic)


def test_hub_status_topic() -> None:
    topics = Topics()
    assert topics.hub_status == "vivant/v1/hub/status"
    assert topics.parse("vivant/v1/hub/status") == HubStatusTopic()


def test_occupancy_topic() -> None:
    topics = Topics()
    topic = topics.occupancy("ekilibre", "cuisine")
    assert topic == "vivant/v1/ekilibre/occupancy/cuisine"
    assert topics.parse(topic) == OccupancyTopic(site="ekilibre", room="cuisine")


def test_node_filter_covers_only_one_node() -> None:
    assert Topics().node_filter("ekilibre", "esp32-accueil") == "vivant/v1/ekilibre/esp32-accueil/+"


@pytest.mark.parametrize(
    ("site", "node"), [("hub", "esp32-accueil"), ("ekilibre", "occupancy")], ids=["site", "node"]
)
def test_reserved_ids_cannot_be_used_by_a_node(site: str, node: str) -> None:
    with pytest.raises(TopicError, match="reserved"):
        Topics().node(site, node, EdgeKind.BADGE)


def test_reserved_site_id_refused_for_occupancy_and_when_parsing() -> None:
    with pytest.raises(TopicError, match="reserved"):
        Topics().occupancy("hub", "cuisine")
    with pytest.raises(TopicError, match="reserved"):
        Topics().parse("vivant/v1/hub/esp32-accueil/badge")


def test_a_node_named_occupancy_would_read_as_an_occupancy_topic() -> None:
    # Why the node id is reserved: its topics are indistinguishable from a room's occupancy.
    assert Topics().parse("vivant/v1/ekilibre/occupancy/badge") == OccupancyTopic(
        "ekilibre", "badge"
    )


@pytest.mark.parametrize(
    "segment",
    ["", "Ekilibre", "pi.1", "pi 1", "pi+", "pi#", "pi/1", "café", "a" * 65],
    ids=["empty", "uppercase", "dot", "space", "plus", "hash", "slash", "accent", "too-long"],
)
def test_bad_segments_are_refused(segment: str) -> None:
    topics = Topics()
    with pytest.raises(TopicError):
        topics.node(segment, "esp32-accueil", EdgeKind.BADGE)
    with pytest.raises(TopicError):
        topics.node("ekilibre", segment, EdgeKind.BADGE)
    with pytest.raises(TopicError):
        topics.occupancy("ekilibre", segment)


def test_longest_segment_is_accepted() -> None:
    longest = "a" * 64
    topic = Topics().node(longest, longest, EdgeKind.SENSOR)
    assert Topics().parse(topic) == NodeTopic(longest, longest, EdgeKind.SENSOR)


@pytest.mark.parametrize(
    "topic",
    [
        "vivant/v1/ekilibre/esp32-accueil/reboot",  # unknown kind
        "vivant/v1/ekilibre/esp32-accueil/Badge",
        "vivant/v2/ekilibre/esp32-accueil/badge",  # wrong root
        "vivant/v1x/ekilibre/esp32-accueil/badge",  # root as a mere string prefix
        "espresense/devices/irk:abc/cuisine",
        "vivant/v1/ekilibre/esp32-accueil/badge/extra",
        "vivant/v1/ekilibre/badge",
        "vivant/v1/ekilibre//badge",
        "vivant/v1/Ekilibre/esp32-accueil/badge",
        "vivant/v1/",
        "vivant/v1",
    ],
)
def test_topics_outside_the_contract_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        Topics().parse(topic)


@pytest.mark.parametrize("root", ["", "vivant/v1/", "/vivant", "Vivant/v1", "vivant/+", "a//b"])
def test_bad_roots_are_refused(root: str) -> None:
    with pytest.raises(TopicError):
        Topics(root)


@examples
@given(site=segments, node=segments, kind=st.sampled_from([*EdgeKind, *HubKind]))
def test_any_node_topic_parses_back(site: str, node: str, kind: EdgeKind | HubKind) -> None:
    topics = Topics()
    if site == "hub" or node == "occupancy":
        with pytest.raises(TopicError):
            topics.node(site, node, kind)
        return
    assert topics.parse(topics.node(site, node, kind)) == NodeTopic(site, node, kind)


@examples
@given(site=segments, room=segments)
def test_any_occupancy_topic_parses_back(site: str, room: str) -> None:
    assume(site != "hub")
    topics = Topics()
    assert topics.parse(topics.occupancy(site, room)) == OccupancyTopic(site, room)


# -- payloads: valid messages and round trips -----------------------------------------------------


def test_valid_payloads_decode() -> None:
    assert decode_edge(EdgeKind.BADGE, raw(badge())) == Badge.model_validate(badge())
    decoded = decode_edge(EdgeKind.BLE, raw(ble()))
    assert isinstance(decoded, BleWindow)
    assert decoded.tags[0].rssi == -67.5
    assert decode_edge(EdgeKind.SENSOR, raw(sensor("co2", 812))) == Sensor(
        id="17.000144", ts=TS, room="cuisine", kind=SensorKind.CO2, value=812
    )
    assert isinstance(decode_edge(EdgeKind.TELEMETRY, raw(telemetry())), Telemetry)


def test_encode_round_trips_and_leaves_out_unset_optionals() -> None:
    model = decode_edge(EdgeKind.TELEMETRY, raw(telemetry()))
    encoded = encode(model)
    assert b"cpu_temp_c" not in encoded
    assert b" " not in encoded
    assert decode_edge(EdgeKind.TELEMETRY, encoded) == model


def test_status_is_not_a_json_edge_payload() -> None:
    with pytest.raises(ValueError, match="not a JSON edge payload"):
        decode_edge(EdgeKind.STATUS, b"online")


def test_defaults() -> None:
    window = decode_edge(EdgeKind.BLE, raw({k: v for k, v in ble().items() if k != "tags"}))
    assert isinstance(window, BleWindow)
    assert window.tags == []
    config = decode_config(raw({"ts": TS, "rooms": ["accueil"]}))
    assert config.enrolled_tags == []
    assert config.ble_window_s == 5
    assert config.sensors.interval_s == 60


# -- payloads: strictness ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"ts": str(TS)},  # "42" is not an integer
        {"ts": float(TS)},  # 1.0 is not a timestamp
        {"ts": True},
        {"ts": None},
        {"ts": TS // 1000},  # seconds, not milliseconds (1970)
        {"ts": FIRST_VALID_TS - 1},  # 2019-12-31T23:59:59.999Z
        {"ts": LAST_VALID_TS + 1},
        {"id": ""},
        {"id": "a" * 65},
        {"id": "17/142"},
        {"id": "17 142"},
        {"id": 17},
        {"room": "Accueil"},
        {"reader": "porte.1"},
        {"credential": CREDENTIAL.upper()},
        {"credential": CREDENTIAL[:31]},
        {"credential": "04A1B2C3D4E5F6"},  # a raw UID is never a credential
    ],
    ids=repr,
)
def test_badge_field_types_are_strict(overrides: dict[str, object]) -> None:
    assert rejection(decode_edge, EdgeKind.BADGE, raw(badge(**overrides))) is (
        RejectReason.INVALID_PAYLOAD
    )


def test_timestamp_bounds_are_inclusive() -> None:
    for ts in (FIRST_VALID_TS, LAST_VALID_TS):
        assert decode_edge(EdgeKind.BADGE, raw(badge(ts=ts))).ts == ts


def test_exponent_notation_is_not_an_integer() -> None:
    body = raw(badge()).replace(str(TS).encode(), b"1.741768034512e12")
    assert rejection(decode_edge, EdgeKind.BADGE, body) is RejectReason.INVALID_PAYLOAD


def test_message_id_edge_cases_accepted() -> None:
    for msg_id in ("a" * 64, "1", "0001a.Zz_9:-"):
        decoded = decode_edge(EdgeKind.BADGE, raw(badge(id=msg_id)))
        assert isinstance(decoded, Badge)
        assert decoded.id == msg_id


@pytest.mark.parametrize("field", ["id", "ts", "room", "reader", "credential"])
def test_badge_missing_field_is_refused(field: str) -> None:
    body = {k: v for k, v in badge().items() if k != field}
    assert rejection(decode_edge, EdgeKind.BADGE, raw(body)) is RejectReason.INVALID_PAYLOAD


@pytest.mark.parametrize("field", ["id", "ts", "room", "window_s", "anonymous"])
def test_ble_missing_field_is_refused(field: str) -> None:
    body = {k: v for k, v in ble().items() if k != field}
    assert rejection(decode_edge, EdgeKind.BLE, raw(body)) is RejectReason.INVALID_PAYLOAD


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_refused(literal: bytes) -> None:
    body = raw(sensor("temperature", 21.5)).replace(b"21.5", literal)
    assert rejection(decode_edge, EdgeKind.SENSOR, body) is RejectReason.INVALID_PAYLOAD


def test_unknown_fields_are_ignored_everywhere() -> None:
    extra = {"firmware": "1.2.0", "nested": {"anything": [1, 2]}}
    assert decode_edge(EdgeKind.BADGE, raw(badge(**extra))) == Badge.model_validate(badge())
    tags = [{"tag": "mac:c2a1b2c3d4e5", "rssi": -80, "n": 1, "distance": 3.2}]
    assert isinstance(decode_edge(EdgeKind.BLE, raw(ble(tags=tags, **extra))), BleWindow)
    assert isinstance(decode_edge(EdgeKind.TELEMETRY, raw(telemetry(**extra))), Telemetry)
    config = {"ts": TS, "rooms": ["accueil"], "sensors": {"interval_s": 30, "co2": True}, **extra}
    assert decode_config(raw(config)).sensors.interval_s == 30
    assert isinstance(decode_command(raw(feedback(**extra))), FeedbackCommand)


@pytest.mark.parametrize(
    ("kind", "value", "accepted"),
    [
        ("motion", 0, True),
        ("motion", 1, True),
        ("motion", 1.0, True),
        ("motion", 0.5, False),
        ("motion", 2, False),
        ("motion", -1, False),
        ("motion", True, False),
        ("door", 1, True),
        ("door", 3, False),
        ("people_in", 3, True),
        ("people_in", 0, True),
        ("people_in", 2.5, False),
        ("people_in", -1, False),
        ("people_in", 10_000, True),
        ("people_in", 10_001, False),
        ("people_out", 4.0, True),
        ("people_out", 0.1, False),
        ("humidity", 0, True),
        ("humidity", 100, True),
        ("humidity", 100.1, False),
        ("humidity", -0.1, False),
        ("co2", 812, True),
        ("co2", 40_000, True),
        ("co2", 40_001, False),
        ("temperature", -40, True),
        ("temperature", 85, True),
        ("temperature", -40.5, False),
        ("temperature", 85.1, False),
        ("temperature", "21.5", False),
        ("noise", 194, True),
        ("noise", 195, False),
        ("illuminance", 200_000, True),
        ("illuminance", -1, False),
        ("pressure", 1013, True),
        ("pressure", 200, False),  # lower than anywhere people work
        ("smell", 3, False),  # unknown kind
        ("CO2", 812, False),
    ],
)
def test_sensor_value_fits_its_kind(kind: str, value: object, accepted: bool) -> None:
    body = raw(sensor(kind, value))
    if accepted:
        decoded = decode_edge(EdgeKind.SENSOR, body)
        assert isinstance(decoded, Sensor)
        assert decoded.value == value
    else:
        assert rejection(decode_edge, EdgeKind.SENSOR, body) is RejectReason.INVALID_PAYLOAD


@pytest.mark.parametrize(
    "overrides",
    [
        {"window_s": 0},
        {"window_s": 3601},
        {"anonymous": -1},
        {"anonymous": 2.0},
        {"anonymous": None},
        {"tags": None},
        {"tags": [{"tag": "c2a1b2c3d4e5", "rssi": -70, "n": 1}]},  # an address without a scheme
        {"tags": [{"tag": "mac:c2a1b2c3d4e5", "rssi": -128, "n": 1}]},
        {"tags": [{"tag": "mac:c2a1b2c3d4e5", "rssi": 21, "n": 1}]},
        {"tags": [{"tag": "mac:c2a1b2c3d4e5", "rssi": -70, "n": 0}]},
        {"tags": [{"tag": "mac:c2a1b2c3d4e5", "rssi": -70}]},
    ],
    ids=repr,
)
def test_ble_window_strictness(overrides: dict[str, object]) -> None:
    assert rejection(decode_edge, EdgeKind.BLE, raw(ble(**overrides))) is (
        RejectReason.INVALID_PAYLOAD
    )


def test_ble_window_holds_at_most_512_tags() -> None:
    tag = {"tag": "a:b", "rssi": -70, "n": 1}
    assert isinstance(decode_edge(EdgeKind.BLE, raw(ble(tags=[tag] * 512))), BleWindow)
    body = raw(ble(tags=[tag] * 513))
    assert len(body) <= MAX_PAYLOAD_BYTES
    assert rejection(decode_edge, EdgeKind.BLE, body) is RejectReason.INVALID_PAYLOAD


def test_telemetry_optional_fields() -> None:
    full = telemetry(cpu_temp_c=47.5, undervoltage=False, clock_synced=True)
    assert decode_edge(EdgeKind.TELEMETRY, raw(full)) == Telemetry.model_validate(full)
    nulls = telemetry(cpu_temp_c=None, undervoltage=None, clock_synced=None)
    assert decode_edge(EdgeKind.TELEMETRY, raw(nulls)) == Telemetry.model_validate(telemetry())
    for overrides in ({"undervoltage": 0}, {"uptime_s": -1}, {"version": "v" * 65}):
        body = raw(telemetry(**overrides))
        assert rejection(decode_edge, EdgeKind.TELEMETRY, body) is RejectReason.INVALID_PAYLOAD


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", RejectReason.MALFORMED_JSON),
        (b"", RejectReason.MALFORMED_JSON),
        (b"\xff\xfe", RejectReason.MALFORMED_JSON),
        (b"\xef\xbb\xbf" + raw(badge()), RejectReason.MALFORMED_JSON),  # UTF-8 BOM
        (raw(badge()) + b" trailing", RejectReason.MALFORMED_JSON),
        (b"[]", RejectReason.INVALID_PAYLOAD),
        (b'"badge"', RejectReason.INVALID_PAYLOAD),
        (b"null", RejectReason.INVALID_PAYLOAD),
    ],
    ids=repr,
)
def test_not_a_json_object(body: bytes, reason: RejectReason) -> None:
    assert rejection(decode_edge, EdgeKind.BADGE, body) is reason


# -- size limit ----------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """A valid badge message of exactly *size* bytes (padded with an ignored field)."""
    head = raw(badge(pad=""))
    body = head.replace(b'"pad":""', b'"pad":"' + b"x" * (size - len(head)) + b'"')
    assert len(body) == size
    return body


def test_size_limit_is_16_kib_inclusive() -> None:
    assert MAX_PAYLOAD_BYTES == 16_384
    assert isinstance(decode_edge(EdgeKind.BADGE, padded(16_384)), Badge)
    assert rejection(decode_edge, EdgeKind.BADGE, padded(16_385)) is RejectReason.TOO_LARGE


def test_size_is_checked_before_parsing_and_counts_bytes_not_characters() -> None:
    assert rejection(decode_edge, EdgeKind.SENSOR, b"{" * 16_385) is RejectReason.TOO_LARGE
    # 8 193 two-byte characters: 16 386 bytes of UTF-8 but far fewer characters.
    body = raw(badge(pad="é" * 8_193)).replace(b"\\u00e9", "é".encode())
    assert len(body.decode()) < MAX_PAYLOAD_BYTES < len(body)
    assert rejection(decode_edge, EdgeKind.BADGE, body) is RejectReason.TOO_LARGE


@pytest.mark.parametrize(
    "decode", [decode_status, decode_config, decode_command], ids=lambda f: f.__name__
)
def test_every_decoder_enforces_the_size_limit(decode: Any) -> None:
    assert rejection(decode, b" " * (MAX_PAYLOAD_BYTES + 1)) is RejectReason.TOO_LARGE


# -- status --------------------------------------------------------------------------------------


def test_decode_status() -> None:
    assert decode_status(b"online") is Status.ONLINE
    assert decode_status(b"offline") is Status.OFFLINE
    assert decode_status(b"online\n") is Status.ONLINE  # surrounding whitespace tolerated


@pytest.mark.parametrize(
    "body", [b"", b"ONLINE", b'"online"', b'{"status":"online"}', b"on line", b"\xff"], ids=repr
)
def test_decode_status_refuses_anything_else(body: bytes) -> None:
    assert rejection(decode_status, body) is RejectReason.INVALID_PAYLOAD


# -- commands ------------------------------------------------------------------------------------


def test_decode_feedback_command() -> None:
    command = decode_command(raw(feedback(result="unknown")))
    assert command == FeedbackCommand(
        action="feedback",
        id="fb1",
        ts=TS,
        reader="porte",
        badge_id="17.000142",
        result=Feedback.UNKNOWN,
    )


def test_decode_enrol_command() -> None:
    body = {"action": "enrol", "id": "en1", "ts": TS, "reader": "porte", "until_ts": TS + 60_000}
    command = decode_command(raw(body))
    assert isinstance(command, EnrolModeCommand)
    assert command.until_ts == TS + 60_000


def test_encoded_commands_carry_their_action() -> None:
    command = FeedbackCommand(
        action="feedback",
        id="fb1",
        ts=TS,
        reader="porte",
        badge_id="17.000142",
        result=Feedback.ENROLLED,
    )
    assert json.loads(encode(command))["action"] == "feedback"
    assert decode_command(encode(command)) == command


@pytest.mark.parametrize(
    "body",
    [
        feedback(action="reboot"),  # unknown action: a node ignores it
        {k: v for k, v in feedback().items() if k != "action"},  # action is required on the wire
        feedback(action="Feedback"),
        feedback(result="maybe"),
        {k: v for k, v in feedback().items() if k != "badge_id"},
        {"action": "enrol", "id": "en1", "ts": TS, "reader": "porte"},
        {"action": "enrol", "id": "en1", "ts": TS, "reader": "porte", "until_ts": float(TS)},
    ],
    ids=["unknown-action", "no-action", "action-case", "result", "badge_id", "until_ts", "float"],
)
def test_decode_command_refuses(body: dict[str, object]) -> None:
    assert rejection(decode_command, raw(body)) is RejectReason.INVALID_PAYLOAD


def test_decode_config_refuses_bad_values() -> None:
    for body in (
        {"rooms": ["accueil"]},
        {"ts": TS, "rooms": ["Accueil"]},
        {"ts": TS, "rooms": ["accueil"], "enrolled_tags": ["c2a1b2c3d4e5"]},
        {"ts": TS, "rooms": ["accueil"], "ble_window_s": 0},
        {"ts": TS, "rooms": ["accueil"], "sensors": {"interval_s": 0.5}},
    ):
        assert rejection(decode_config, raw(body)) is RejectReason.INVALID_PAYLOAD


# -- credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uid",
    [
        "04A1B2C3",
        "04a1b2c3",
        "04:a1:b2:c3",
        "04-A1-B2-C3",
        "04 a1 b2 c3",
        "\t04A1B2C3\n",
        b"\x04\xa1\xb2\xc3",
    ],
    ids=repr,
)
def test_uid_normalisation(uid: str | bytes) -> None:
    assert normalise_uid(uid) == "04A1B2C3"
    assert credential_for(KEY, uid) == "a539f6acd1fff724865e41736d12cd99"


@pytest.mark.parametrize(
    "uid", ["", b"", "04A1B", "04G1", "0x04A1", ":::", "04.A1", "０４Ａ１"], ids=repr
)
def test_bad_uids_are_refused(uid: str | bytes) -> None:
    with pytest.raises(ValueError, match="UID"):
        normalise_uid(uid)
    with pytest.raises(ValueError, match="UID"):
        credential_for(KEY, uid)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        credential_for("", "04A1B2C3")


def test_credential_depends_on_the_key() -> None:
    assert credential_for(KEY, "04A1B2C3D4E5F6") == CREDENTIAL
    assert credential_for(KEY + "x", "04A1B2C3D4E5F6") != CREDENTIAL


@examples
@given(key=st.text(min_size=1, max_size=64), uid=st.binary(min_size=1, max_size=16))
def test_credential_always_fits_the_wire_pattern(key: str, uid: bytes) -> None:
    credential = credential_for(key, uid)
    assert re.fullmatch(r"[0-9a-f]{32}", credential)
    assert Badge.model_validate(badge(credential=credential)).credential == credential
    # The same badge read as raw bytes or as text from a wedge reader gives one credential.
    assert credential_for(key, ":".join(f"{b:02x}" for b in uid)) == credential
