"""The one place podman is called. argv lists only: never a shell on the host."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

from podman_sandbox.errors import PodmanError, PodmanMissingError

# Known host failures -> what to do (doctor explains them in full).
_HINTS = (
    ("cgroups in hybrid mode not supported", "crun cannot run here; use runc: run `podman-sandbox doctor` for the fix"),
    ("setrlimit", "Podman's default rlimits cannot be set here: run `podman-sandbox doctor` for the fix"),
    ("initializing source docker://", "no registry could be reached for it: check the name, or build or load the image locally (`podman-sandbox local-image` makes a small one)"),
    ("short-name", "write the image's full name, e.g. docker.io/library/alpine:latest"),
    ("manifest unknown", "no such image in the registry: check the image name and tag"),
    # Before "slirp4netns": the usual cause of its failure, with the fix.
    ("/dev/net/tun", "rootless networking (slirp4netns) needs /dev/net/tun readable and writable by you: "
                     "set `network: none` or `network: host` (`podman-sandbox configure --network none`), "
                     "or have an administrator run `chmod 0666 /dev/net/tun` (its usual mode)"),
    ("slirp4netns", "rootless networking failed: try `network: none` or `host`, or run `podman-sandbox doctor`"),
    ("runroot must be set", "your containers/storage.conf sets [storage] driver but not runroot and graphroot; "
                            "Podman 4.3 then fails here when XDG_CONFIG_HOME is set: add both "
                            "(`podman info` shows the values in use: store.runRoot, store.graphRoot)"),
)


def hint_for(stderr: str) -> str | None:
    for needle, hint in _HINTS:
        if needle in stderr:
            return hint
    return None


def _reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    line = (errors or lines or ["no error output"])[-1]
    # A helper's output quoted into the error (slirp4netns, runc) comes with its
    # newlines escaped: its first line says what failed; the rest is noise.
    line = line.split("\\n", 1)[0]
    return line[len("Error:"):].strip() if line.startswith("Error:") else line


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class Runner:
    """Runs podman. verbose echoes every command to stderr as it starts."""

    def __init__(self, podman: str = "podman", verbose: bool = False):
        self.podman = podman
        self.verbose = verbose

    def executable(self) -> str:
        path = shutil.which(self.podman)
        if not path:
            raise PodmanMissingError(
                "podman is not installed (not found on PATH)",
                hint="install it (Debian/Ubuntu: apt-get install podman; Fedora: dnf install podman), "
                     "then run `podman-sandbox doctor`")
        return path

    def run(self, argv: list[str], *, what: str, check: bool = True,
            stream: bool = False, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        """Run argv (argv[0] is 'podman'). stream: output goes to our stderr as it comes.
        env: the environment podman gets (default: ours)."""
        assert argv and argv[0] == "podman", argv
        full = [self.executable(), *argv[1:]]
        if self.verbose:
            sys.stderr.write("+ " + shlex.join(argv) + "\n")
            sys.stderr.flush()
        try:
            if stream:
                sys.stderr.flush()
                proc = subprocess.run(full, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(),
                                      stdin=subprocess.DEVNULL, env=env)
                result = Result(argv, proc.returncode, "", "")
            else:
                proc = subprocess.run(full, capture_output=True, text=True, input=input,
                                      stdin=None if input is not None else subprocess.DEVNULL, env=env)
                result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
        except FileNotFoundError as exc:
            raise PodmanMissingError(f"podman could not be started: {exc}") from None
        if check and result.returncode != 0:
            raise PodmanError(f"{what} failed: {_reason(result.stderr) if not stream else f'exit {result.returncode}'}",
                              argv=argv, stderr=result.stderr, returncode=result.returncode,
                              hint=hint_for(result.stderr))
        return result

    def passthrough(self, argv: list[str]) -> int:
        """Run argv on our own stdin, stdout and stderr (bytes pass through untouched);
        return podman's exit code. For output the user reads as it comes (`logs`)."""
        assert argv and argv[0] == "podman", argv
        full = [self.executable(), *argv[1:]]
        if self.verbose:
            sys.stderr.write("+ " + shlex.join(argv) + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            return subprocess.run(full).returncode
        except FileNotFoundError as exc:
            raise PodmanMissingError(f"podman could not be started: {exc}") from None
