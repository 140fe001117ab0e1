"""Kubernetes: the sandbox as a Pod or an agent-sandbox Sandbox (render.py)."""
