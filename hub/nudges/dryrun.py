"""What the rules would do, in words a community manager reads: French first, English too.

A dry run (``dry_run: true`` in the rules, or any preview in the staff dashboard) lists one line
per member and rule: what would be sent, where, when and in which words, or why nothing is sent
(``Camille : pas d’envoi — heures calmes (20:00–08:00)``). Staff trust rules they can read, and
a rule explained before it runs is how a wrong setting is caught before a member sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.config import Language, RoomKind
from hub.nudges.guardrails import Decision, Holdout, Reason, ReasonCode, Send, Skip
from hub.nudges.rules import Channel, NudgeKind

KIND_LABELS: dict[NudgeKind, tuple[str, str]] = {
    NudgeKind.ARRIVAL_GREETING: ("Accueil à l’écran", "Screen greeting"),
    NudgeKind.ARRIVAL_MESSAGE: ("Message à l’arrivée", "Arrival message"),
    NudgeKind.MOMENT_SOON: ("Moment imminent", "Moment starting soon"),
    NudgeKind.LOW_ATTENDANCE_STAFF: ("Alerte équipe : peu de monde", "Staff alert: low attendance"),
    NudgeKind.TENANT_STREAK_STAFF: (
        "Suggestion équipe : présentation personnelle",
        "Staff suggestion: personal introduction",
    ),
    NudgeKind.WELCOME_FIRST_DAY: ("Bienvenue, premier jour", "Welcome, first day"),
    NudgeKind.WELCOME_BACK: ("Bon retour", "Welcome back"),
}

KINDS_BY_VALUE: dict[str, NudgeKind] = {k.value: k for k in NudgeKind}

CHANNEL_LABELS: dict[Channel, tuple[str, str]] = {
    Channel.SCREEN: ("sur l’écran d’accueil", "on the lobby screen"),
    Channel.EMAIL: ("par e-mail", "by email"),
    Channel.APPRISE: ("par message (Apprise)", "by message (Apprise)"),
    Channel.WEBHOOK: ("par webhook", "by webhook"),
    Channel.STAFF: ("à l’équipe", "to the staff"),
}

ROOM_LABELS: dict[str, tuple[str, str]] = {
    RoomKind.MEETING.value: ("salle de réunion", "meeting room"),
    RoomKind.PHONE_BOOTH.value: ("cabine téléphonique", "phone booth"),
    RoomKind.DESK.value: ("bureau", "desk"),
    RoomKind.COMMUNITY.value: ("espace commun", "community room"),
    RoomKind.LOBBY.value: ("accueil", "lobby"),
}

REASON_LABELS: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.PAUSED: ("envois en pause", "nudges paused"),
    ReasonCode.RULE_DISABLED: ("règle désactivée", "rule disabled"),
    ReasonCode.STALE: ("trop tard, fenêtre d’envoi dépassée", "too late, sending window over"),
    ReasonCode.NO_CONSENT_KIND: (
        "pas de consentement pour ce type de message",
        "no consent for this kind of nudge",
    ),
    ReasonCode.NO_CONSENT_CHANNEL: (
        "pas de consentement pour ce canal",
        "no consent for this channel",
    ),
    ReasonCode.QUIET_HOURS: ("heures calmes", "quiet hours"),
    ReasonCode.CAP_DAY: ("plafond du jour atteint", "daily cap reached"),
    ReasonCode.CAP_WEEK: ("plafond de la semaine atteint", "weekly cap reached"),
    ReasonCode.IN_MEETING_ROOM: ("occupé·e", "busy"),
    ReasonCode.SAME_WORDING_ONLY_LEFT: (
        "seule la formulation déjà envoyée la dernière fois reste",
        "only the wording sent last time is left",
    ),
    ReasonCode.NOT_ON_SITE: ("pas sur place", "not on site"),
    ReasonCode.ALREADY_JOINED: ("déjà inscrit·e", "already joined"),
    ReasonCode.NO_MOMENT_SOON: ("pas de moment assez proche", "no moment soon enough"),
    ReasonCode.CAPACITY_REACHED: ("plus de places à proposer", "no seats left to offer"),
    ReasonCode.ATTENDANCE_OK: ("assez de monde", "enough people"),
    ReasonCode.STREAK_TOO_SHORT: ("série de jours trop courte", "streak too short"),
    ReasonCode.RECENTLY_SUGGESTED: ("déjà suggéré récemment (jours)", "suggested recently (days)"),
    ReasonCode.NOT_FIRST_VISIT: ("pas son premier jour", "not their first day"),
    ReasonCode.ALREADY_WELCOMED: ("déjà accueilli·e", "already welcomed"),
    ReasonCode.ABSENCE_TOO_SHORT: ("absence trop courte (jours)", "absence too short (days)"),
}


def _pick(labels: tuple[str, str], language: Language) -> str:
    return labels[0] if language is Language.FR else labels[1]


def _reason(reason: Reason, language: Language) -> str:
    text = _pick(REASON_LABELS[reason.code], language)
    detail = reason.detail
    if reason.code is ReasonCode.IN_MEETING_ROOM and detail in ROOM_LABELS:
        detail = _pick(ROOM_LABELS[detail], language)
    elif reason.code is ReasonCode.NO_CONSENT_KIND and detail in KINDS_BY_VALUE:
        detail = _pick(KIND_LABELS[KINDS_BY_VALUE[detail]], language)
    return f"{text} ({detail})" if detail else text


def _clock(value: datetime, zone: ZoneInfo) -> str:
    return f"{value.astimezone(zone):%H:%M}"


def describe(name: str, decision: Decision, zone: ZoneInfo, language: Language) -> str:
    """One line about one decision for *name* (a member's first name, or a moment's title)."""
    fr = language is Language.FR
    sep = " : " if fr else ": "
    if isinstance(decision, Skip):
        reasons = "; ".join(_reason(r, language) for r in decision.reasons)
        return f"{name}{sep}{'pas d’envoi' if fr else 'not sent'} — {reasons}"
    channel = _pick(CHANNEL_LABELS[decision.channel], language)
    if isinstance(decision, Holdout):
        share = f"{decision.share * 100:.0f} %"
        if fr:
            return (
                f"{name} : groupe témoin ({share} retenus pour la mesure) — rien n’est envoyé "
                f"(aurait été envoyé {channel}, variante « {decision.variant_id} »)"
            )
        return (
            f"{name}: holdout group ({share} kept aside to measure) — nothing is sent "
            f"(would have been sent {channel}, variant “{decision.variant_id}”)"
        )
    assert isinstance(decision, Send)
    start, end = _clock(decision.not_before, zone), _clock(decision.not_after, zone)
    when = (
        (f"à {start}" if fr else f"at {start}")
        if start == end
        else (f"entre {start} et {end}" if fr else f"between {start} and {end}")
    )
    if fr:
        line = (
            f"{name} : envoi {channel} {when}, variante « {decision.variant_id} » "
            f"— « {decision.text} »"
        )
        return line + (" [simulation : rien n’est envoyé]" if decision.dry_run else "")
    line = f"{name}: sent {channel} {when}, variant “{decision.variant_id}” — “{decision.text}”"
    return line + (" [dry run: nothing is sent]" if decision.dry_run else "")


def explain(
    items: Sequence[tuple[str, Decision]], zone: ZoneInfo, language: Language = Language.FR
) -> str:
    """The decisions grouped by rule, one line each, in *language*."""
    lines: list[str] = []
    for kind in NudgeKind:
        group = [(name, d) for name, d in items if d.kind is kind]
        if not group:
            continue
        if lines:
            lines.append("")
        lines.append(f"{_pick(KIND_LABELS[kind], language)} ({kind.value})")
        lines.extend(f"  {describe(name, d, zone, language)}" for name, d in group)
    return "\n".join(lines)


def explain_both(items: Sequence[tuple[str, Decision]], zone: ZoneInfo) -> str:
    """French, then English."""
    return "\n\n".join(
        (
            "— Français —\n" + explain(items, zone, Language.FR),
            "— English —\n" + explain(items, zone, Language.EN),
        )
    )
