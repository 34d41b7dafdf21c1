"""Access-log redaction: request lines are logged without query values.

OAuth puts one-shot secrets in query strings (the upstream's authorization ``code`` at ``/callback``, ``state``
everywhere), and uvicorn's access log prints the full path. A code in a log file is a code an operator, a log
pipeline or a support ticket can replay within its lifetime, so the values are replaced before the record is
formatted; the parameter names stay, which is what debugging needs.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

__all__ = ["RedactQueryFilter", "install_access_log_redaction", "redact_query"]


def redact_query(path: str) -> str:
    """``/callback?code=abc&state=xyz`` → ``/callback?code=…&state=…``."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return base + "?" + "&".join(f"{name}=…" for name in names) if names else base + "?…"


class RedactQueryFilter(logging.Filter):
    """For ``uvicorn.access`` records, whose args are ``(client, method, path, http_version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def install_access_log_redaction() -> None:
    """Idempotent: add the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
        logger.addFilter(RedactQueryFilter())
