"""Process logging for ``deputy serve``: one JSON object per line (or one readable line), secrets removed first.

Every record goes through the root logger, whoever wrote it: Deputy's ``deputy.*`` loggers, uvicorn's error and
access loggers, libraries, and ``warnings`` (captured into ``py.warnings``). One ``structlog`` formatter turns each
into an event dict with ``timestamp``, ``level``, ``logger``, ``message`` and, inside a request, the ``request_id``
bound by ``deputy.http.request_id``; then :func:`redact_event` runs on the whole dict just before rendering, so no
code path can add a field that skips it.

Redaction is a backstop, not the policy: Deputy's own code logs identifiers and types, never values (DESIGN.md
invariant 6). The backstop exists because the rest does not hold that rule: an exception message from a library,
a URL with a query, a header echoed in an error. It replaces rather than drops, so a line still says *that* a
value was there. It errs towards removing too much: a long camelCase name may go too, a token should never stay.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping
from typing import Final, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from deputy.audit.context import current_request_id

__all__ = ["REDACTED", "LogFormat", "configure_logging", "is_secret_key", "redact", "redact_event", "redact_text"]

LogFormat = Literal["json", "text"]

REDACTED: Final = "[redacted]"

_MAX_DEPTH: Final = 8

# A key whose *last word* names a secret holds one (``refresh_token``, ``client_secret``, ``code``, ``Cookie``),
# while ``token_endpoint`` or ``authorization_endpoint`` name where a secret goes, not the secret.
_SECRET_WORDS: Final = frozenset(
    {
        "token", "tokens", "secret", "secrets", "password", "passwd", "passphrase", "assertion", "cookie", "cookies",
        "authorization", "credential", "credentials", "verifier", "code", "apikey", "jwt", "otp",
    }
)  # fmt: skip
_NOT_A_SECRET_CODE: Final = frozenset({"status", "exit", "error", "http", "response", "return", "country", "language"})
_SECRET_KEY_QUALIFIERS: Final = frozenset({"api", "private", "secret", "signing", "access", "session"})
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")

_BEARER = re.compile(r"(?i)\b(bearer|basic|dpop)(\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,4}")  # JWS (3 parts) and JWE (5 parts)
_DEPUTY_SECRET = re.compile(r"\b(?:dpc|dpr|dps)_[A-Za-z0-9_-]{16,}")  # deputy.oauth.tokens prefixes
# ``name=value`` / ``"name": "value"`` inside text (a query string, a JSON body, a header echoed in an error).
_PAIR = re.compile(
    r"(?P<key>[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>\"?\s*[=:]\s*\"?)(?!\[redacted\])(?P<value>[^\s&\"',;}?]+)"
)
_RUN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")
_WORDY_SEGMENT = re.compile(r"[a-z0-9]{1,24}")
# Text with none of these cannot match any rule above: most fields (a method, a path, a level) skip the rest.
_SUSPECT = re.compile(r"eyJ|dp[crs]_|(?i:bearer|basic|dpop)|[=:]|[A-Za-z0-9_-]{32}")
# Fields this module adds itself: no secret can be in them.
_OWN_FIELDS: Final = frozenset({"timestamp", "level", "logger"})


@functools.lru_cache(maxsize=1024)
def is_secret_key(key: str) -> bool:
    """Whether a field named ``key`` holds a secret: ``access_token``, ``client_secret``, ``code``, ``Cookie``,
    ``api_key``; but not ``status_code``, ``token_type`` or ``token_endpoint``."""
    words = [w for w in _WORD_SPLIT.split(_CAMEL.sub(r"\1_\2", key).lower()) if w]
    if not words:
        return False
    last, before = words[-1], words[-2] if len(words) > 1 else ""
    if last == "code":
        return before not in _NOT_A_SECRET_CODE
    if last == "key":
        return before in _SECRET_KEY_QUALIFIERS
    return last in _SECRET_WORDS or "secret" in words or "password" in words


def _opaque(run: str) -> bool:
    """A run of 32+ base64url characters is a secret unless it reads as words: lower-case segments of at most 24
    characters joined by ``_`` or ``-`` (``create_contact_for_deal_v2``, a UUID). Random base64url of that length
    all but always holds an upper-case letter or a long segment; hex digests are one long segment."""
    return not all(_WORDY_SEGMENT.fullmatch(seg) for seg in re.split(r"[_-]", run))


def _pair(match: re.Match[str]) -> str:
    if match["value"] == "…" or not is_secret_key(match["key"]):  # "…": already elided (deputy.http.access_log)
        return match[0]
    return f"{match['key']}{match['sep']}{REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with tokens, ``Bearer …`` credentials, secret-named ``key=value`` pairs and opaque runs replaced."""
    if not _SUSPECT.search(text):
        return text
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _DEPUTY_SECRET.sub(REDACTED, text)
    text = _PAIR.sub(_pair, text)
    return _RUN.sub(lambda m: REDACTED if _opaque(m[0]) else m[0], text)


def redact(value: object, depth: int = 0) -> object:
    """``value`` with every string redacted, recursively; values under secret-named keys replaced whole.

    Numbers, booleans and ``None`` pass through. Anything else is rendered with ``str`` and then redacted, so an
    object whose ``repr`` would show a secret never reaches the renderer as itself.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {str(k): _field(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item, depth + 1) for item in value]
    return redact_text(str(value))


def _field(key: str, value: object, depth: int) -> object:
    if is_secret_key(key) and value is not None and not isinstance(value, bool | int | float):
        return REDACTED
    return redact(value, depth)


def redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: :func:`redact` over the whole event dict (the message included)."""
    return {k: v if k in _OWN_FIELDS else _field(k, v, 0) for k, v in event_dict.items()}


def _add_request_id(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    request_id = current_request_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _access_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """uvicorn's access records carry ``(client, method, path, http_version, status)``: make them fields.

    The path is already query-redacted by ``deputy.http.access_log`` (a filter on the logger, which runs first).
    """
    args = event_dict.pop("positional_args", None)
    record = event_dict.get("_record")
    is_access = isinstance(record, logging.LogRecord) and record.name == "uvicorn.access"
    if is_access and isinstance(args, tuple) and len(args) == 5:
        client, method, path, version, status = args
        event_dict.update(client=client, method=method, path=path, http_version=version, status=status)
    return event_dict


def _shared() -> list[Processor]:
    """What every record gets, whether written through ``logging`` or ``structlog``."""
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]


def _formatter(fmt: LogFormat) -> structlog.stdlib.ProcessorFormatter:
    final: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        redact_event,
    ]
    if fmt == "json":
        final += [structlog.processors.EventRenamer("message"), structlog.processors.JSONRenderer()]
    else:
        final += [structlog.dev.ConsoleRenderer(colors=False)]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_access_fields, *_shared()], processors=final, pass_foreign_args=True
    )


def configure_logging(fmt: LogFormat = "json", level: str = "info") -> None:
    """Route every logger of the process to one handler on stderr, formatted as ``fmt``, at ``level`` and above.

    Replaces the root logger's handlers (idempotent). uvicorn must then run with ``log_config=None`` so that it
    keeps its loggers propagating here instead of installing its own handlers.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)  # it announces every plugin it loads at INFO
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
