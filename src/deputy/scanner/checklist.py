"""``deputy scan --checklist``: the confused-deputy audit (from the seed article) as Markdown for a SECURITY.md,
each item marked with the scanner checks that cover it, or "manual"."""

from __future__ import annotations

from typing import Final

from deputy.scanner.catalog import info

__all__ = ["CHECKLIST", "render_checklist"]

CHECKLIST: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("Does the server use a static client ID with any third-party authorization server?", ()),
    ("Does the server allow dynamic client registration?", ("as.dcr", "as.cimd", "reg.rate_limit", "reg.body_limit")),
    ("Does the server render its own consent screen before forwarding to the third party?", ("authz.consent",)),
    ("Is per-(user, client_id) consent stored server-side?", ()),
    (
        "Are redirect_uri values matched exactly (no pattern matching, no wildcards)?",
        ("authz.redirect_exact", "reg.redirect_uri_policy"),
    ),
    ("Is the `state` parameter generated server-side, bound to the consent decision, one-shot?", ()),
    ("Is the consent cookie under `__Host-` prefix with Secure, HttpOnly, SameSite=Lax?", ("consent.cookies",)),
    ("Are downstream API calls made with tokens minted via RFC 8693 token exchange?", ()),
    (
        "Does the server reject tokens whose audience claim is not its own?",
        ("rs.upstream_token", "rs.invalid_token", "rs.query_token"),
    ),
    ("Is there any tool call path where the agent can act on injected text without user re-confirmation?", ()),
)


def render_checklist() -> str:
    lines = [
        "## MCP proxy server audit",
        "",
        "Items marked with check ids are tested by `deputy scan --active URL`; items marked *manual* need a "
        "design or code review.",
        "",
    ]
    for item, checks in CHECKLIST:
        for check_id in checks:
            info(check_id)  # a typo here is a bug: KeyError
        covered = ", ".join(f"`{c}`" for c in checks) if checks else "*manual*"
        lines.append(f"- [ ] {item} — {covered}")
    lines += [
        "",
        'Re-run it whenever the OAuth integration changes. Source: the audit checklist of "MCP confused deputy: '
        'the OAuth proxy mistake"; check ids from `deputy scan` (docs/scanner.md).',
    ]
    return "\n".join(lines) + "\n"
