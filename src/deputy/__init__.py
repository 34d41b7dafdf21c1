"""Deputy: an MCP authorization proxy that cannot be turned into a confused deputy."""

__version__ = "0.1.0"
