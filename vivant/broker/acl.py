"""Mosquitto ACL file (``acl_file``) from broker accounts.

Mosquitto applies the lines before the first ``user`` to anonymous clients: there are none, so
an anonymous client (if ``allow_anonymous`` were ever turned on by mistake) may do nothing. A
user has only the topics listed under its name; a subscription is granted only if an ACL filter
covers the whole subscription filter, so a node that subscribes to ``#`` (or to another node's
topics) gets a refusal (SUBACK 0x80) and nothing else. No account but the hub's has a wildcard
that reaches past its own site or node.
"""

from __future__ import annotations

from collections.abc import Iterable

from vivant.broker.accounts import Account, check_unique


def render_acl(accounts: Iterable[Account], *, source: str = "", appendix: str = "") -> str:
    """The text of an ACL file granting each account its topics, and nothing to anonymous."""
    checked = check_unique(accounts)
    lines = [
        "# Mosquitto ACL for Vivant, written by `vivant mqtt gen-acl`"
        + (f" from {source}" if source else "")
        + ".",
        "# Do not edit: change the hub configuration and generate it again, then reload",
        "# Mosquitto (systemctl reload mosquitto, or kill -HUP).",
        "# Nothing before the first `user` line: anonymous clients may do nothing.",
    ]
    for account in checked:
        lines += ["", f"# {account.description}", f"user {account.username}"]
        lines += [f"topic readwrite {topic}" for topic in account.readwrite]
        lines += [f"topic write {topic}" for topic in account.write]
        lines += [f"topic read {topic}" for topic in account.read]
    if appendix.strip():
        lines += ["", "# --- appended by hand (gen-acl --append) ---", appendix.strip()]
    return "\n".join(lines) + "\n"
