"""Badge credentials: what a badge UID becomes before it leaves the edge.

``credential = hex(HMAC-SHA256(key=site credential key, msg=UID))[:32]`` where the message is the
ASCII text of the UID in uppercase hexadecimal without separators (``04A1B2C3D4E5F6``) and the key
is the UTF-8 bytes of the site's credential key. The raw UID never leaves the edge process; the hub
only ever sees credentials. A keyed hash (not a plain hash) means a leaked badge log cannot be
matched against a list of UIDs by anyone who does not hold the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

CREDENTIAL_HEX_DIGITS = 32
_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-F]+$")


def normalise_uid(uid: str | bytes) -> str:
    """Return the UID as uppercase hex without separators.

    Accepts raw bytes (as a PC/SC or NFC reader gives them) or text such as ``04:a1:b2`` or
    ``04A1B2`` (as keyboard-wedge and serial readers print them).
    """
    if isinstance(uid, bytes):
        if not uid:
            raise ValueError("empty badge UID")
        return uid.hex().upper()
    text = _SEPARATORS.sub("", uid).upper()
    if not text or not _HEX.fullmatch(text) or len(text) % 2:
        raise ValueError("badge UID must be an even number of hex digits")
    return text


def credential_for(key: str, uid: str | bytes) -> str:
    """Compute the wire credential of a badge *uid* under a site's credential *key*."""
    if not key:
        raise ValueError("credential key must not be empty")
    digest = hmac.new(key.encode("utf-8"), normalise_uid(uid).encode("ascii"), hashlib.sha256)
    return digest.hexdigest()[:CREDENTIAL_HEX_DIGITS]
