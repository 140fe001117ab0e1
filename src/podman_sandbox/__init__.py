"""podman-sandbox: run code in disposable, resource-limited Podman sandboxes."""

__version__ = "0.1.0"
