"""Acme CRM: a realistic fake third-party provider (OAuth 2.0 authorization server plus REST API).

Deputy's demo and tests front it exactly as they would a real SaaS API. It deliberately keeps the behaviour
real providers have and a confused-deputy attack relies on, notably the long-lived consent cookie that makes a
repeat authorization for the same client silent.
"""

from .app import create_acme_app
from .settings import AcmeClient, AcmeSettings, AcmeUser, default_settings
from .stats import AcmeStats
from .store import AcmeStore

__all__ = [
    "AcmeClient",
    "AcmeSettings",
    "AcmeStats",
    "AcmeStore",
    "AcmeUser",
    "create_acme_app",
    "default_settings",
]
