"""The MCP resource server: only Deputy's own tokens, and the third-party API as tools."""
