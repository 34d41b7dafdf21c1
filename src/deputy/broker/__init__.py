"""The credential broker: the only code that ever sees an upstream credential in clear."""
