"""Intent confirmation: write tools run as drafts and commit only with a signed intent digest the user confirmed.

A document an assistant reads can carry instructions; every identity check passes when the assistant follows
them. Deputy therefore answers a write tool call with a *draft* (validated, hashed, stored, nothing sent upstream)
and a confirmation URL. The user opens it in the browser where they signed in, sees the exact operation and
approves or rejects it; approval signs an intent digest with the ring's Ed25519 intent key. The assistant then
commits: the same call again, with the draft id. It runs once, only if the digest verifies and the operation is
byte-for-byte the one confirmed, for the same user and the same grant, before the digest expires.

Pure parts: ``canonical`` (the intent hash), ``digest`` (sign and verify), ``policy`` (which calls need a draft),
``commit`` (the commit checks), ``models`` (the draft and its state machine). Adapters: ``service`` (one
transaction per step), ``gate`` (the tool-call side), ``results`` (MCP results), ``keyring`` (start-up check).
See docs/intents.md.
"""
