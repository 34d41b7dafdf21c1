"""The audit log: every security decision, appended in the same transaction as the decision itself."""
