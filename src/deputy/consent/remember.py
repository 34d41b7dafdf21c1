"""Remembered consent: the pure rules for when an earlier approval may stand in for Deputy's consent page.

Skipping the page is what a confused-deputy attack needs: a page on another site sends the victim's browser to
/authorize for a client the victim once approved, and a silent approval completes the attack (FastMCP
GHSA-6x8h-498w-gv8c, where an authorization server in the middle did the sending). The browser says where a
navigation came from in ``Sec-Fetch-Site`` (W3C Fetch Metadata); only a navigation the user started (``none``: typed,
bookmarked, or opened by an application on the device) or one from Deputy's own pages (``same-origin``) may skip
the page. ``same-site`` is refused as well, since a sibling host is not Deputy. A request without the header comes
from an old browser or from something that is not a browser, and cannot prove where it came from: it gets the page.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DAY", "SKIPPABLE_FETCH_SITES", "check_navigation", "remember_until"]

SKIPPABLE_FETCH_SITES: Final = frozenset({"none", "same-origin"})
DAY: Final = 86400


def check_navigation(fetch_site: str | None) -> bool:
    """Whether this navigation may be answered from a remembered consent; a missing header fails closed."""
    return fetch_site in SKIPPABLE_FETCH_SITES


def remember_until(approved_at: int, remember_days: int) -> int:
    """When an approval made on the page at ``approved_at`` stops standing in for the page."""
    return approved_at + remember_days * DAY
