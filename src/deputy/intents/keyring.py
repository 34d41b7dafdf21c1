"""Start-up: intents need an intent key in the ring, and a ring file never changes behind the operator's back.

``deputy keys init`` and every ring Deputy generates carry one. A ring written before intents existed has none:

* with ``keys.create_if_missing`` (the demo, where Deputy owns the ring file anyway) one is added to the file,
  and the log says so, so every instance sharing the file verifies what another signed;
* otherwise start-up stops with the fix: ``deputy keys rotate --purpose intent`` (or ``[intents] enabled =
  false``). A key generated only in memory would differ per instance and vanish on restart, so it is never used.
"""

from __future__ import annotations

import logging

from deputy.config import Settings
from deputy.errors import ConfigError
from deputy.keys import KeyRing

__all__ = ["ensure_intent_key"]

log = logging.getLogger("deputy.intents")


def ensure_intent_key(ring: KeyRing, settings: Settings, now: int) -> None:
    """Make sure ``ring`` can sign intent digests when intents are enabled.

    Raises:
        ConfigError: the ring has no intent key and may not be changed here.
    """
    if not settings.intents.enabled or ring.current_intent is not None:
        return
    keys = settings.keys
    if keys.inline is not None or not keys.create_if_missing:
        where = "keys.inline" if keys.inline is not None else f"keys.file {keys.file}"
        raise ConfigError(
            f"{where}: the key ring has no intent key, which [intents] needs; add one with "
            "`deputy keys rotate --purpose intent` (or set intents.enabled = false)"
        )
    fresh = KeyRing.load(keys.file, create_if_missing=False, now=now).rotated("intent", now)
    fresh.save(keys.file)
    ring.adopt(fresh)
    log.warning("added an intent key (%s) to the key ring %s (keys.create_if_missing)", fresh.intent[-1].kid, keys.file)
