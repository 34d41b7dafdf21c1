"""The audit log: every security decision, appended as an HMAC chain in the same transaction as the decision."""
