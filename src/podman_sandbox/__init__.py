"""podman-sandbox: run code in disposable, resource-limited Podman sandboxes.

`from podman_sandbox import Sandbox` is the Python API (api.py); it is loaded on
first use, so `import podman_sandbox` (and the CLI's fast path) stays cheap.
"""

__version__ = "0.1.0"

_LAZY = {"Sandbox", "RunResult", "Execution"}


def __getattr__(name: str):
    if name in _LAZY:
        from podman_sandbox import api
        return getattr(api, name)
    raise AttributeError(f"module 'podman_sandbox' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
