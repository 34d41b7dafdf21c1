"""``deputy scan``: a black-box scanner for MCP authorization servers and MCP proxies.

It discovers a server from its MCP URL alone and checks it against the MCP authorization spec, RFC 9728 / 8414 /
7636 / 9207 / 9700 and the confused-deputy rules of the MCP security best practices. Layout:

* ``probe.py``: every HTTP request (host allowlist, timeouts, no automatic redirects); ``listener.py``: the
  throwaway client's loopback redirect URI.
* ``checks/``: pure functions from recorded exchanges to :class:`CheckResult`; ``catalog.py``: ids and specs.
* ``report.py`` (table, JSON, SARIF), ``checklist.py`` (``--checklist``), ``cli.py`` (``add_scan_parser``).
"""

from deputy.scanner.model import CheckResult, ScanReport, Status
from deputy.scanner.runner import ScanConfig, ScanError, run_scan

__all__ = ["CheckResult", "ScanConfig", "ScanError", "ScanReport", "Status", "run_scan"]
