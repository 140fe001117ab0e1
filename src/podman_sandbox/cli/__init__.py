"""The click front end: one small module per command, no logic beyond options -> engine -> output."""
