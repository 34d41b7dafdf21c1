"""Units of work: the pure core plus storage, one transaction per step. No web framework here either."""
