"""The staff switches, kept in the database and laid over the rules file."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from hub.nudge_control import effective_rules, is_dry_run, is_paused, pause, resume, set_dry_run
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
