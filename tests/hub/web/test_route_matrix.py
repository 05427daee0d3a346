"""Every route × every kind of caller, over real HTTP against a running hub.

``ROUTES`` declares, for each route of the application, who may use it. The test walks
``app.routes``: a route missing from the table (a new page, a new API) fails, and so does a stale
entry. Then each route is called as anonymous, staff, manager, admin and API tokens of each role,
and the refusals of the role system (``X-Vivant-Refused``) must be exactly the declared ones.

Public by design, and why:

- ``/screens/…`` (lobby pages, their state and stream) show only what hangs in the lobby; the
  screens branch adds a per-screen read-only token that the screens code checks itself.
- ``/sites/<site>/moments.ics``: the upcoming moments already shown on the screens, for members'
  calendars (a calendar application cannot sign in).
- ``/healthz``: liveness for the supervisor and compose health checks; says nothing about people.
- ``/metrics``: Prometheus text with aggregate counters (messages, rejections, greetings, queue
  depth) and no member identifier; Prometheus scrapes without credentials by default, and the
  benchmarks read it. Operators who expose the hub beyond their LAN put it behind their proxy.
- ``/static``: CSS and JavaScript, identical for everyone.
- ``/login``: the sign-in form and its submission.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount

from hub.accounts import Role, digest, open_session
from hub.db.models import User, UserSession
from hub.web.app import create_app
from hub.web.auth import REFUSED_HEADER, SESSION_COOKIE
from tests.support.accounts import api_token, sign_in
from tests.support.hub_server import SITE, RunningHub, hub_config, running_hub
from tests.support.mosquitto import free_port

PUBLIC = None


@dataclass(frozen=True)
class Rule:
    """Who may call a route: ``role`` None is public; ``tokens`` also admits API tokens."""

    role: Role | None
    sample: str | None = None  # a concrete path when the route has parameters
    tokens: bool = False
    stream: bool = False  # Server-Sent Events: read the headers only


ROUTES: dict[tuple[str, str], Rule] = {
    # Public by design (see the module docstring).
    ("GET", "/static"): Rule(PUBLIC, "/static/staff.css"),
    ("GET", "/screens/{site_id}/{screen_id}"): Rule(PUBLIC, f"/screens/{SITE}/hall"),
    ("GET", "/screens/{site_id}/{screen_id}/state"): Rule(PUBLIC, f"/screens/{SITE}/hall/state"),
    ("GET", "/screens/{site_id}/{screen_id}/events"): Rule(
        PUBLIC, f"/screens/{SITE}/hall/events", stream=True
    ),
    ("GET", "/sites/{site_id}/moments.ics"): Rule(PUBLIC, f"/sites/{SITE}/moments.ics"),
    ("GET", "/healthz"): Rule(PUBLIC),
    ("GET", "/metrics"): Rule(PUBLIC),
    ("GET", "/login"): Rule(PUBLIC),
    ("POST", "/login"): Rule(PUBLIC),
    # Signed-in people.
    ("POST", "/logout"): Rule(Role.STAFF),
    ("GET", "/account"): Rule(Role.STAFF),
    ("POST", "/account/password"): Rule(Role.STAFF),
    ("POST", "/account/language"): Rule(Role.STAFF),
    ("GET", "/staff"): Rule(Role.STAFF),
    ("GET", "/staff/events"): Rule(Role.STAFF, stream=True),
    ("POST", "/staff/check-in"): Rule(Role.STAFF),
    ("POST", "/staff/check-out"): Rule(Role.STAFF),
    ("POST", "/staff/enrolments"): Rule(Role.STAFF),
    ("POST", "/staff/enrolments/{enrolment_id}/cancel"): Rule(
        Role.STAFF, "/staff/enrolments/999999/cancel"
    ),
    ("POST", "/staff/nudges/pause"): Rule(Role.STAFF),
    ("POST", "/staff/nudges/resume"): Rule(Role.STAFF),
    ("POST", "/staff/moments/announce"): Rule(Role.STAFF),
    ("GET", "/staff/moments"): Rule(Role.STAFF),
    ("POST", "/staff/moments"): Rule(Role.STAFF),
    ("POST", "/staff/moments/{moment_id}/edit"): Rule(Role.STAFF, "/staff/moments/999999/edit"),
    ("POST", "/staff/moments/{moment_id}/cancel"): Rule(Role.STAFF, "/staff/moments/999999/cancel"),
    ("POST", "/staff/moments/{moment_id}/restore"): Rule(
        Role.STAFF, "/staff/moments/999999/restore"
    ),
    ("POST", "/staff/feeds/{feed_id}/sync"): Rule(Role.STAFF, "/staff/feeds/999999/sync"),
    ("GET", "/staff/nudges"): Rule(Role.STAFF),
    ("POST", "/staff/nudges/dry-run-mode"): Rule(Role.MANAGER),
    ("GET", "/insights"): Rule(Role.MANAGER),
    ("GET", "/insights/{report}.csv"): Rule(Role.MANAGER, "/insights/rooms.csv"),
    ("GET", "/admin/users"): Rule(Role.ADMIN),
    ("POST", "/admin/users"): Rule(Role.ADMIN),
    ("POST", "/admin/users/{user_id}/role"): Rule(Role.ADMIN, "/admin/users/999999/role"),
    ("POST", "/admin/users/{user_id}/delete"): Rule(Role.ADMIN, "/admin/users/999999/delete"),
    ("GET", "/admin/tokens"): Rule(Role.ADMIN),
    ("POST", "/admin/tokens"): Rule(Role.ADMIN),
    ("POST", "/admin/tokens/{token_id}/revoke"): Rule(Role.ADMIN, "/admin/tokens/999999/revoke"),
    ("GET", "/admin/members"): Rule(Role.ADMIN),
    ("POST", "/admin/members/import"): Rule(Role.ADMIN),
    ("GET", "/admin/sites"): Rule(Role.ADMIN),
    # Members, through signed links that the pages check themselves (:mod:`hub.signing`).
    ("GET", "/rsvp/{token}"): Rule(PUBLIC, "/rsvp/x"),
    ("POST", "/rsvp/{token}"): Rule(PUBLIC, "/rsvp/x"),
    ("GET", "/privacy"): Rule(PUBLIC),
    ("POST", "/privacy/request"): Rule(PUBLIC),
    ("GET", "/privacy/{token}"): Rule(PUBLIC, "/privacy/x"),
    ("GET", "/privacy/{token}/export.json"): Rule(PUBLIC, "/privacy/x/export.json"),
    ("GET", "/privacy/{token}/export.csv"): Rule(PUBLIC, "/privacy/x/export.csv"),
    ("POST", "/privacy/{token}/consents"): Rule(PUBLIC, "/privacy/x/consents"),
    ("POST", "/privacy/{token}/erase"): Rule(PUBLIC, "/privacy/x/erase"),
    # People and integrations (API tokens).
    ("GET", "/api/sites/{site_id}/moments"): Rule(
        Role.STAFF, f"/api/sites/{SITE}/moments", tokens=True
    ),
    ("POST", "/api/sites/{site_id}/moments"): Rule(
        Role.STAFF, f"/api/sites/{SITE}/moments", tokens=True
    ),
    ("GET", "/api/moments/{moment_id}"): Rule(Role.STAFF, "/api/moments/999999", tokens=True),
    ("PATCH", "/api/moments/{moment_id}"): Rule(Role.STAFF, "/api/moments/999999", tokens=True),
    ("POST", "/api/moments/{moment_id}/cancel"): Rule(
        Role.STAFF, "/api/moments/999999/cancel", tokens=True
    ),
    ("POST", "/api/moments/{moment_id}/restore"): Rule(
        Role.STAFF, "/api/moments/999999/restore", tokens=True
    ),
    ("GET", "/api/nudges"): Rule(Role.STAFF, tokens=True),
    ("GET", "/api/nudges/dry-run"): Rule(Role.STAFF, tokens=True),
    ("POST", "/api/nudges/pause"): Rule(Role.STAFF, tokens=True),
    ("POST", "/api/nudges/resume"): Rule(Role.STAFF, tokens=True),
    ("POST", "/api/nudges/dry-run-mode"): Rule(Role.MANAGER, tokens=True),
    ("GET", "/staff/snapshot.json"): Rule(Role.STAFF, tokens=True),
    ("GET", "/openapi.json"): Rule(Role.STAFF, tokens=True),
}

CALLERS = ["anonymous", "staff", "manager", "admin", "token:staff", "token:manager", "token:admin"]


def declared_routes(routes: Sequence[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path) of every route, walking included routers (FastAPI ≥ 0.165 keeps an
    included router as one entry of ``app.routes``, with its original router inside)."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, APIRoute):
            found.update(
                (method, prefix + route.path) for method in route.methods or () if method != "HEAD"
            )
        elif isinstance(route, Mount):
            found.add(("GET", prefix + route.path))
        elif hasattr(route, "original_router"):
            included: Any = route
            found |= declared_routes(
                included.original_router.routes, prefix + included.include_context.prefix
            )
        else:
            raise AssertionError(f"route of an unexpected type: {route!r}")
    return found


def expected_refusal(rule: Rule, caller: str) -> bool:
    """Whether the role system must refuse *caller* on a route of *rule*."""
    if rule.role is None:
        return False
    if caller == "anonymous":
        return True
    if caller.startswith("token:"):
        return not rule.tokens or not Role(caller.split(":")[1]).allows(rule.role)
    return not Role(caller).allows(rule.role)


def test_every_route_is_declared(tmp_path: Path) -> None:
    config = hub_config("mqtt://127.0.0.1:1883", "unused/v1", f"sqlite:///{tmp_path / 'h.db'}")
    routes = declared_routes(create_app(config).routes)
    undeclared = sorted(routes - ROUTES.keys())
    stale = sorted(ROUTES.keys() - routes)
    assert undeclared == [], f"declare these routes in ROUTES with their role: {undeclared}"
    assert stale == [], f"these ROUTES entries match no route any more: {stale}"


@pytest.fixture
def hub(system_broker_url: str, topic_root: str, db_url: str) -> Iterator[RunningHub]:
    config = hub_config(
        system_broker_url, topic_root, db_url, client_id=f"hub-{topic_root[:9]}", port=free_port()
    )
    with running_hub(config) as running:
        yield running


class Callers:
    """Headers (cookie or bearer) and CSRF token of each kind of caller; a fresh session per
    request, so a route that closes the session (logout) leaves the next call unaffected."""

    def __init__(self, hub: RunningHub) -> None:
        self.sessions = hub.runtime.sessions
        self.users = {role.value: sign_in(self.sessions, role).user_id for role in Role}
        self.tokens = {role.value: api_token(self.sessions, role) for role in Role}

    def credentials(self, caller: str) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form) for one request as *caller*."""
        if caller == "anonymous":
            return {}, {}
        if caller.startswith("token:"):
            return {"Authorization": f"Bearer {self.tokens[caller.split(':')[1]]}"}, {}
        with self.sessions.begin() as session:
            user = session.get(User, self.users[caller])
            assert user is not None
            cookie = open_session(session, user)
            row = session.get(UserSession, digest(cookie))
            assert row is not None
            return {"Cookie": f"{SESSION_COOKIE}={cookie}"}, {"csrf_token": row.csrf_token}


def call(client: httpx.Client, method: str, path: str, rule: Rule, headers: dict[str, str],
         form: dict[str, str]) -> httpx.Response:  # fmt: skip
    """One request; a stream is closed once its headers are in."""
    headers = {"Accept": "text/html", **headers}
    if rule.stream:
        with client.stream(method, path, headers=headers) as response:
            return response
    if method == "POST":
        return client.post(path, headers=headers, data=form)
    return client.get(path, headers=headers)


def test_route_matrix(hub: RunningHub) -> None:
    callers = Callers(hub)
    failures = []
    with httpx.Client(base_url=hub.base_url, timeout=10, follow_redirects=False) as client:
        for (method, path), rule in sorted(ROUTES.items(), key=lambda item: item[0][1]):
            for caller in CALLERS:
                headers, form = callers.credentials(caller)
                response = call(client, method, rule.sample or path, rule, headers, form)
                refused = response.headers.get(REFUSED_HEADER)
                if refused in ("csrf", "origin"):
                    failures.append(f"{method} {path} as {caller}: CSRF refused a valid token")
                if (refused is not None) != expected_refusal(rule, caller):
                    failures.append(
                        f"{method} {path} as {caller}: {response.status_code} refused={refused}"
                    )
                if refused is not None:
                    assert response.status_code in (303, 401, 403)
                failures += page_header_failures(f"{method} {path} as {caller}", response)
    assert failures == []


def page_header_failures(label: str, response: httpx.Response) -> list[str]:
    """Every HTML answer (page, refusal, error) carries the CSP and, but for the lobby screens
    that signage players frame, the framing refusals."""
    if not response.headers.get("content-type", "").startswith("text/html"):
        return []
    csp = response.headers.get("content-security-policy", "")
    problems = []
    if "default-src" not in csp or "form-action 'self'" not in csp:
        problems.append(f"{label}: HTML without the CSP ({csp!r})")
    if not response.url.path.startswith("/screens/") and (
        "frame-ancestors 'none'" not in csp or response.headers.get("x-frame-options") != "DENY"
    ):
        problems.append(f"{label}: HTML that may be framed")
    if response.headers.get("x-content-type-options") != "nosniff":
        problems.append(f"{label}: HTML without nosniff")
    return problems


def test_every_form_post_needs_the_csrf_token(hub: RunningHub) -> None:
    """As admin (allowed everywhere), a POST without the token, with a wrong one, or from another
    origin is refused; with the token it is not."""
    admin = sign_in(hub.runtime.sessions, Role.ADMIN)
    posts = [(path, rule) for (method, path), rule in ROUTES.items()
             if method == "POST" and rule.role is not None and path != "/logout"]  # fmt: skip
    assert len(posts) >= 8
    with admin.client(hub.base_url, timeout=10) as client:
        for path, rule in posts:
            target = rule.sample or path
            missing = client.post(target, data={})
            wrong = client.post(target, data={"csrf_token": "x" * 43})
            foreign = client.post(
                target, data={"csrf_token": admin.csrf}, headers={"Origin": "https://evil.example"}
            )
            header = client.post(target, headers={"X-CSRF-Token": admin.csrf})
            assert missing.headers.get(REFUSED_HEADER) == "csrf", path
            assert wrong.headers.get(REFUSED_HEADER) == "csrf", path
            assert foreign.headers.get(REFUSED_HEADER) == "origin", path
            assert header.headers.get(REFUSED_HEADER) is None, path
        out = client.post("/logout", data={})
        assert out.headers.get(REFUSED_HEADER) == "csrf"
