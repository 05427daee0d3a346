"""Resolving phones' private BLE addresses through their enrolled Identity Resolving Keys.

A phone does not advertise from a fixed address: it uses a *resolvable private address* (RPA)
that it replaces every few minutes (15 min on iOS and Android). Only a holder of the phone's IRK
can tell that two such addresses are the same phone, which is the point: a member who enrols
their phone gives its IRK to the node, and nobody else can follow it.

Bluetooth Core Specification, Vol 3, Part H, 2.2.2 (random address hash function ``ah``) and
Vol 6, Part B, 1.3.2.2 (resolvable private address):

* The 48-bit address is ``prand || hash``: the 24 most significant bits are ``prand``, whose two
  top bits are ``0b01`` (that is how an RPA is recognised), the 24 least significant are ``hash``.
  In the usual text form ``4E:4B:1C:0D:FB:AA`` the first three octets are ``prand``.
* ``hash = ah(IRK, prand)`` with ``ah(k, r) = e(k, r') mod 2**24`` where ``r'`` is ``r`` padded
  with 104 zero bits on the most significant side and ``e`` is AES-128 in encryption direction;
  every value is taken most significant octet first.

So resolving one address against one key is one AES block. An encryptor is kept per key (ECB
has no state between blocks), and the caller caches answers per window, so a phone advertising
ten times a second costs one AES per key per window, not ten per second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

IRK_BYTES: Final = 16
_PADDING: Final = bytes(IRK_BYTES - 3)
_RPA_MARKER: Final = 0b01


def ah(irk: bytes, prand: bytes) -> bytes:
    """The random address hash ``ah(k, r)`` of the Core spec: 3 bytes, most significant first."""
    if len(irk) != IRK_BYTES:
        raise ValueError("an IRK is 16 bytes")
    if len(prand) != 3:
        raise ValueError("prand is 3 bytes")
    encryptor = Cipher(algorithms.AES(irk), modes.ECB()).encryptor()  # noqa: S305 - the spec's e()
    return encryptor.update(_PADDING + prand)[-3:]


def address_bytes(address: str) -> bytes | None:
    """A ``AA:BB:CC:DD:EE:FF`` address as 6 bytes, or ``None`` if it is not one (a macOS UUID)."""
    text = address.replace(":", "").replace("-", "")
    if len(text) != 12:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def is_resolvable(address: bytes) -> bool:
    """Whether a random address is a resolvable private one (top two bits ``0b01``)."""
    return len(address) == 6 and address[0] >> 6 == _RPA_MARKER


class IrkResolver:
    """Tells which enrolled phone, if any, advertised from a resolvable private address."""

    def __init__(self, irks: Mapping[str, bytes]) -> None:
        self._keys: list[tuple[str, CipherContext]] = []
        for enrolled_id, irk in irks.items():
            if len(irk) != IRK_BYTES:
                raise ValueError(f"the IRK of {enrolled_id!r} is not 16 bytes")
            cipher = Cipher(algorithms.AES(irk), modes.ECB())  # noqa: S305 - the spec's e()
            self._keys.append((enrolled_id, cipher.encryptor()))

    def __len__(self) -> int:
        return len(self._keys)

    def resolve(self, address: bytes) -> str | None:
        """The enrolled id whose IRK generated *address*, or ``None``."""
        if not self._keys or not is_resolvable(address):
            return None
        prand, hash_ = address[:3], address[3:]
        block = _PADDING + prand
        for enrolled_id, encryptor in self._keys:
            if encryptor.update(block)[-3:] == hash_:
                return enrolled_id
        return None
