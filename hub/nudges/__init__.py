"""Nudges: who gets which message, when, on which channel, or why not. Pure logic.

Nothing here touches the database, the network or the clock: the caller passes the trigger, what
it knows about the member (:class:`~hub.nudges.guardrails.Candidate`, with their consents and
past nudges), the rules (:func:`~hub.nudges.rules.load_rules`) and ``now``, and gets a
:class:`~hub.nudges.guardrails.Send`, :class:`~hub.nudges.guardrails.Holdout` or
:class:`~hub.nudges.guardrails.Skip` back. :func:`~hub.nudges.dryrun.explain` turns decisions
into lines a community manager reads.

- :mod:`hub.nudges.rules`: rule settings, loaded from YAML (defaults in ``defaults.yaml``).
- :mod:`hub.nudges.guardrails`: :func:`decide`, the moment-soon ranking and planning.
- :mod:`hub.nudges.experiment`: stable holdout arms and the rotation of wordings.
- :mod:`hub.nudges.dryrun`: the readable explanation, French first.
"""

from hub.nudges.dryrun import explain, explain_both
from hub.nudges.experiment import Arm, assign, choose_variant
from hub.nudges.guardrails import (
    Candidate,
    Decision,
    Holdout,
    Moment,
    PastNudge,
    Reason,
    ReasonCode,
    Send,
    Skip,
    Trigger,
    decide,
    plan_moment_soon,
    rank_moment_soon,
    trigger_time,
)
from hub.nudges.rules import Channel, NudgeKind, RulesConfig, default_rules, load_rules

__all__ = [
    "Arm",
    "Candidate",
    "Channel",
    "Decision",
    "Holdout",
    "Moment",
    "NudgeKind",
    "PastNudge",
    "Reason",
    "ReasonCode",
    "RulesConfig",
    "Send",
    "Skip",
    "Trigger",
    "assign",
    "choose_variant",
    "decide",
    "default_rules",
    "explain",
    "explain_both",
    "load_rules",
    "plan_moment_soon",
    "rank_moment_soon",
    "trigger_time",
]
