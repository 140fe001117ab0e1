"""The MCP server (`podman-sandbox mcp`): tools for agents, built on the Python API."""
