"""Secrets a tenant gives the bot (the generative composer's API key), sealed at rest.

A database dump or a read replica must not hand out tenants' model-provider keys, and the API
never shows a key back (only whether one is set). The key is encrypted with a keystream of
HMAC-SHA256 (key, nonce, counter) blocks and authenticated with HMAC-SHA256 over nonce and
ciphertext (encrypt-then-MAC), under keys derived from ``SECRET_KEY`` per purpose: standard
primitives from the standard library, as the ``cryptography`` package is not a dependency.
Rotating ``SECRET_KEY`` makes sealed keys unreadable: ``unseal`` then returns "" and the
generator is not called (the extractive answer is sent) until the key is entered again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

_VERSION = "s1"
_NONCE_BYTES = 16
_TAG_BYTES = 32


def _key(purpose: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"support_bot.sealed.{purpose}".encode(),
                    hashlib.sha256).digest()


def _keystream(nonce: bytes, length: int) -> bytes:
    key = _key("encrypt")
    blocks = (hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
              for counter in range((length + 31) // 32))
    return b"".join(blocks)[:length]


def seal(secret: str) -> str:
    """``secret`` encrypted and authenticated; "" stays "" (no key)."""
    if not secret:
        return ""
    data = secret.encode()
    nonce = secrets.token_bytes(_NONCE_BYTES)
    cipher = bytes(a ^ b for a, b in zip(data, _keystream(nonce, len(data)), strict=True))
    tag = hmac.new(_key("authenticate"), nonce + cipher, hashlib.sha256).digest()
    return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + tag + cipher).decode()


def unseal(sealed: str) -> str:
    """The secret, or "" when there is none or it cannot be authenticated."""
    version, _, payload = sealed.partition(":")
    if version != _VERSION:
        return ""
    try:
        raw = base64.urlsafe_b64decode(payload.encode())
    except ValueError:
        return ""
    nonce, tag, cipher = (raw[:_NONCE_BYTES], raw[_NONCE_BYTES:_NONCE_BYTES + _TAG_BYTES],
                          raw[_NONCE_BYTES + _TAG_BYTES:])
    expected = hmac.new(_key("authenticate"), nonce + cipher, hashlib.sha256).digest()
    if len(nonce) != _NONCE_BYTES or not hmac.compare_digest(tag, expected):
        return ""
    data = bytes(a ^ b for a, b in zip(cipher, _keystream(nonce, len(cipher)), strict=True))
    return data.decode(errors="replace")
