"""The staff switches, kept in the database and laid over the rules file."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.members import add_member
from hub.nudge_control import (
    INVITATIONS,
    effective_rules,
    is_dry_run,
    is_paused,
    mute,
    muted_kinds,
    pause,
    resume,
    set_dry_run,
    unmute,
)
from hub.nudges.rules import NudgeKind
from tests.hub.nudges.helpers import rules


def test_pause_and_dry_run_are_remembered_and_applied_over_the_file(
    sessions: sessionmaker[Session],
) -> None:
    file_rules = rules()
    with sessions.begin() as session:
        assert not is_paused(session)
        assert effective_rules(session, file_rules) is file_rules
        pause(session)
        pause(session)  # twice is once
        set_dry_run(session, True)
    with sessions() as session:  # another process reads the same
        assert is_paused(session)
        assert is_dry_run(session)
        applied = effective_rules(session, file_rules)
        assert (applied.paused, applied.dry_run) == (True, True)
    with sessions.begin() as session:
        resume(session)
        set_dry_run(session, False)
    with sessions() as session:
        assert not is_paused(session)
        assert not is_dry_run(session)
        # A pause written in the rules file is not lifted by the staff switch.
        assert effective_rules(session, rules(paused=True)).paused


def test_members_mute_and_unmute_kinds_of_nudges(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        member_id = add_member(session, "Camille").id
        mute(session, member_id, INVITATIONS)
        mute(session, member_id, [NudgeKind.MOMENT_SOON])  # twice is once
        with pytest.raises(ValueError, match="not a nudge to the member"):
            mute(session, member_id, [NudgeKind.LOW_ATTENDANCE_STAFF])
    with sessions.begin() as session:
        assert muted_kinds(session, member_id) == INVITATIONS
        unmute(session, member_id, [NudgeKind.ARRIVAL_MESSAGE])
    with sessions() as session:
        assert muted_kinds(session, member_id) == {NudgeKind.MOMENT_SOON}
