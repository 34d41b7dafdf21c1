"""What every endpoint needs, bundled so handlers take one dependency instead of reaching into app.state."""

from __future__ import annotations

from dataclasses import dataclass

from .pages import Pages
from .settings import AcmeSettings
from .stats import AcmeStats
from .store import AcmeStore


@dataclass(frozen=True)
class AcmeContext:
    settings: AcmeSettings
    store: AcmeStore
    stats: AcmeStats
    pages: Pages
