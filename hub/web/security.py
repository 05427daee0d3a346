"""Security headers on every response (a plain ASGI middleware, so SSE streams pass untouched).

- ``Content-Security-Policy``: every script, style, image, font and connection comes from the hub
  itself (no CDN, no external origin: the LAN of a lobby may have no internet anyway), no inline
  script or style, forms post only to the hub, no plugin, no ``<base>``.
- Framing: the staff and admin pages cannot be framed (``frame-ancestors 'none'`` and
  ``X-Frame-Options: DENY``, against clickjacking of their buttons). Lobby screens
  (``/screens/``) may be framed, because signage players such as Xibo show web pages inside a
  frame; they are read-only, so a frame around them can trigger nothing.
- ``Referrer-Policy: same-origin`` (member links carry signed tokens in their path),
  ``X-Content-Type-Options: nosniff``, a restrictive ``Permissions-Policy``, and
  ``Strict-Transport-Security`` when the hub's public address is https.
- Pages other than static files are ``Cache-Control: no-store`` unless the route chose otherwise
  (a shared computer's back button must not show a dashboard after logout).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP_BASE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
FRAMEABLE_PREFIXES = ("/screens/",)
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def headers_for(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    """The security headers of a response to *path*."""
    frameable = path.startswith(FRAMEABLE_PREFIXES)
    csp = CSP_BASE if frameable else f"{CSP_BASE}; frame-ancestors 'none'"
    headers = [
        (b"content-security-policy", csp.encode()),
        (b"referrer-policy", b"same-origin"),
        (b"x-content-type-options", b"nosniff"),
        (b"permissions-policy", PERMISSIONS.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if not frameable:
        headers.append((b"x-frame-options", b"DENY"))
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeaders:
    """Adds :func:`headers_for` to every HTTP response of the wrapped application."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = headers_for(path, self.https)
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
