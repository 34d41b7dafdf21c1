"""Active checks on the authorization endpoint: consent before upstream, exact redirect URIs, PKCE, ``iss``."""

from __future__ import annotations

from deputy.scanner.checks.common import Outcome, classify, hop_evidence, query_params, result, same_target
from deputy.scanner.evidence import describe
from deputy.scanner.model import ActiveObservations, AuthorizeTrip, CheckResult, Discovery, Status, TripProbe
from deputy.scanner.urls import authority

__all__ = [
    "check_consent",
    "check_error_iss",
    "check_pkce_plain",
    "check_pkce_required",
    "check_redirect_exact",
    "check_wrong_verifier",
    "ready",
]


def ready(cid: str, a: ActiveObservations | None) -> ActiveObservations | CheckResult:
    """The observations, or the N/A result when the active probes did not run or no throwaway client exists."""
    if a is None:
        return result(cid, Status.NOT_APPLICABLE, "active check: run with --active")
    if a.skipped:
        return result(cid, Status.NOT_APPLICABLE, a.skipped)
    if a.client_id is None or a.authorization_endpoint is None:
        return result(cid, Status.NOT_APPLICABLE, "no throwaway client could be registered")
    return a


def _outcome(a: ActiveObservations, trip: AuthorizeTrip) -> Outcome:
    return classify(trip.last, a.redirect_uris, a.authorization_endpoint or "")


def check_consent(active: ActiveObservations | None) -> CheckResult:
    cid = "authz.consent"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    if a.authorize is None:
        return result(cid, Status.NOT_APPLICABLE, "the authorization request was not sent")
    trip = a.authorize
    evidence = hop_evidence(trip.hops)
    outcome = _outcome(a, trip)
    where = trip.last.url.split("?", 1)[0]
    if outcome is Outcome.PAGE:
        return result(
            cid, Status.PASS, f"the AS showed its own page ({where}) before anything went upstream", *evidence
        )
    if outcome is Outcome.OFF_HOST:
        host = authority(trip.left_to or trip.last.location or "")
        return result(
            cid,
            Status.FAIL,
            f"confused deputy: /authorize for a freshly registered client redirected straight to {host} without a "
            "consent page of its own (the redirect was recorded, not followed)",
            *evidence,
        )
    if outcome is Outcome.CODE:
        return result(
            cid,
            Status.FAIL,
            "an authorization code was issued to a fresh client without any user interaction",
            *evidence,
        )
    if outcome is Outcome.NO_RESPONSE:
        return result(cid, Status.WARNING, f"could not evaluate: {trip.last.failure}", *evidence)
    if outcome in (Outcome.REFUSED, Outcome.ERROR_REDIRECT):
        return result(
            cid,
            Status.NOT_APPLICABLE,
            "the AS refused the scanner's authorization request, so its consent step could not be observed",
            *evidence,
        )
    return result(cid, Status.WARNING, f"could not tell what the AS did ({outcome.value})", *evidence)


def _variant_verdict(a: ActiveObservations, probe: TripProbe, consent_page: bool) -> tuple[Status, str]:
    last = probe.trip.last
    location = last.location
    if location is not None and same_target(location, probe.value):
        return Status.FAIL, "redirected to the variant"
    outcome = _outcome(a, probe.trip)
    if outcome is Outcome.OFF_HOST:
        return Status.FAIL, f"accepted: the flow went on to {authority(location or '')}"
    if outcome is Outcome.CODE:
        return Status.FAIL, "accepted: a code was issued"
    if outcome is Outcome.PAGE:
        if consent_page and "<form" in last.text.lower():
            return Status.FAIL, "accepted: the consent page was shown for the variant"
        return Status.WARNING, f"answered {last.status} with a page; could not tell whether it was refused"
    if outcome is Outcome.NO_RESPONSE:
        return Status.WARNING, last.failure
    if outcome in (Outcome.REFUSED, Outcome.ERROR_REDIRECT):
        return Status.PASS, f"refused ({last.status})"
    return Status.WARNING, f"unexpected {outcome.value} ({last.status})"


def check_redirect_exact(active: ActiveObservations | None) -> CheckResult:
    cid = "authz.redirect_exact"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    if not a.variants:
        return result(cid, Status.NOT_APPLICABLE, "no variants were sent")
    consent_page = a.authorize is not None and _outcome(a, a.authorize) is Outcome.PAGE
    verdicts = [(p, *_variant_verdict(a, p, consent_page)) for p in a.variants]
    evidence = tuple(
        describe(p.trip.last, headers=("location",), note=f"variant {p.label}: {text}") for p, _, text in verdicts
    )
    failed = [p.label for p, status, _ in verdicts if status is Status.FAIL]
    if failed:
        return result(cid, Status.FAIL, "redirect URI variants accepted: " + ", ".join(failed), *evidence)
    unsure = [p.label for p, status, _ in verdicts if status is Status.WARNING]
    if unsure:
        return result(cid, Status.WARNING, "could not confirm refusal of: " + ", ".join(unsure), *evidence)
    return result(cid, Status.PASS, f"all {len(verdicts)} variants were refused", *evidence)


def _pkce_check(cid: str, active: ActiveObservations | None, trip: AuthorizeTrip | None, what: str) -> CheckResult:
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    if trip is None:
        return result(cid, Status.NOT_APPLICABLE, "not sent")
    evidence = hop_evidence(trip.hops)
    outcome = _outcome(a, trip)
    if outcome in (Outcome.REFUSED, Outcome.ERROR_REDIRECT):
        return result(cid, Status.PASS, f"{what} was refused", *evidence)
    if outcome is Outcome.PAGE:
        return result(cid, Status.FAIL, f"{what} was accepted: a page was shown instead of an error", *evidence)
    if outcome is Outcome.OFF_HOST:
        return result(cid, Status.FAIL, f"{what} was accepted: the flow went upstream", *evidence)
    if outcome is Outcome.CODE:
        return result(cid, Status.FAIL, f"{what} was accepted: a code was issued", *evidence)
    if outcome is Outcome.NO_RESPONSE:
        return result(cid, Status.WARNING, f"could not evaluate: {trip.last.failure}", *evidence)
    return result(cid, Status.WARNING, f"could not tell whether {what} was refused ({outcome.value})", *evidence)


def check_pkce_required(a: ActiveObservations | None) -> CheckResult:
    return _pkce_check("authz.pkce_required", a, a.pkce_missing if a else None, "a request without code_challenge")


def check_pkce_plain(a: ActiveObservations | None) -> CheckResult:
    return _pkce_check("authz.pkce_plain", a, a.pkce_plain if a else None, "code_challenge_method=plain")


def check_error_iss(d: Discovery, active: ActiveObservations | None) -> CheckResult:
    cid = "authz.error_iss"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    trips = [t for t in (a.pkce_missing, a.pkce_plain) if t is not None]
    redirected = [t for t in trips if _outcome(a, t) is Outcome.ERROR_REDIRECT]
    if not redirected:
        return result(cid, Status.NOT_APPLICABLE, "no error was redirected to the client")
    last = redirected[0].last
    ev = describe(last, headers=("location",))
    iss = query_params(last.location or "").get("iss")
    advertised = d.as_metadata is not None and d.as_metadata.get("authorization_response_iss_parameter_supported")
    if iss is None:
        if advertised:
            return result(cid, Status.FAIL, "RFC 9207 support is advertised but the error response has no iss", ev)
        return result(cid, Status.WARNING, "the error response has no iss (RFC 9207 SHOULD)", ev)
    if iss != d.issuer:
        return result(cid, Status.FAIL, f"iss {iss!r} is not the issuer {d.issuer!r}", ev)
    return result(cid, Status.PASS, "the error redirect carries the issuer's iss", ev)


def check_wrong_verifier(active: ActiveObservations | None) -> CheckResult:
    cid = "token.pkce_verifier"
    a = ready(cid, active)
    if isinstance(a, CheckResult):
        return a
    x = a.token_wrong_verifier
    if x is None:
        return result(
            cid, Status.NOT_APPLICABLE, "no authorization code was obtainable without a user (expected for a safe AS)"
        )
    ev = describe(x, json_keys=("error", "error_description", "token_type"))
    if not x.answered:
        return result(cid, Status.WARNING, f"could not evaluate: {x.failure}", ev)
    doc = x.json_object() or {}
    if x.status == 400 and doc.get("error") == "invalid_grant":
        return result(cid, Status.PASS, "a wrong code_verifier gets invalid_grant", ev)
    if x.status is not None and 200 <= x.status < 300:
        return result(cid, Status.FAIL, "tokens were issued for a wrong code_verifier", ev)
    return result(cid, Status.WARNING, f"a wrong code_verifier got {x.status} {doc.get('error')!r}", ev)
