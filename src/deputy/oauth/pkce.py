"""PKCE (RFC 7636), S256 only: OAuth 2.1 §4.1.1 drops ``plain``, and so does Deputy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final

from deputy.errors import InvalidRequestError

__all__ = ["S256", "make_verifier", "s256_challenge", "validate_challenge", "verify_s256"]

S256: Final = "S256"
_VERIFIER: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9\-_]{43}")  # base64url(SHA-256) without padding


def s256_challenge(verifier: str) -> str:
    """The S256 challenge for a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_challenge(challenge: str | None, method: str | None) -> str:
    """Authorization request side (RFC 7636 §4.3): a challenge is required and the method must be S256.

    Raises:
        InvalidRequestError: challenge missing or malformed, or a method other than S256 (``plain`` included).
    """
    if not challenge:
        raise InvalidRequestError("code_challenge is required (PKCE S256)")
    if method != S256:
        raise InvalidRequestError("code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequestError("code_challenge is malformed")
    return challenge


def verify_s256(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    if not _VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier).encode(), challenge.encode())


def make_verifier() -> str:
    """A fresh verifier for Deputy's own leg towards the upstream (86 characters of CSPRNG output)."""
    return secrets.token_urlsafe(64)
