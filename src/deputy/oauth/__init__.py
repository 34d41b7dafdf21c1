"""The pure OAuth core: plain values in, frozen values out or an ``OAuthError``; no web framework, no I/O."""
