"""Building the redirect back to a client (RFC 6749 §4.1.2, RFC 9207 ``iss``)."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

__all__ = ["authorization_response_url"]


def authorization_response_url(redirect_uri: str, params: dict[str, str | None], *, issuer: str) -> str:
    """Append the response parameters to the *validated* redirect URI, keeping its own query (RFC 6749 §3.1.2)."""
    clean = {k: v for k, v in params.items() if v is not None}
    clean["iss"] = issuer
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return redirect_uri + sep + urlencode(clean)
