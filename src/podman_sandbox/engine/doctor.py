"""`podman-sandbox doctor`: can sandboxes work on this host, and if not, what to do.

It checks, in order: that podman is installed (and its version), that
`podman info` answers (and what it says: rootless or not, cgroup version,
runtime, storage driver), the host facts rootless Podman depends on
(subordinate uid/gid ranges, newuidmap, XDG_RUNTIME_DIR, /dev/net/tun, cgroup
v1), and finally runs a tiny probe container rendered by the sandbox's own
create template (steps.probe_argv: --init, no-new-privileges, the dropped
capabilities, a pids and a memory limit, a read-write bind mount at /workspace),
run once with --rm on Podman's default network.

Podman's error text is matched against the host failures we know, and how
to fix each (engine/failures.py). Two of them are fixed by a containers.conf
(crun on a hybrid cgroup host; rlimits the host will not let a container set):
before recommending it, doctor runs the probe again with exactly that file and says
whether it worked.

The exit code is non-zero (122, "Podman not working") when sandboxes cannot
work here as things stand; warnings (limits ignored, slow storage) keep 0.

The engine checked is the one every command uses (engine/connection.py), and the
report's first line names it. On a remote engine `podman info` and the probe go
through the connection, so they are the server's answers; what only this machine's
files could tell (rootless prerequisites, SELinux, the store's file system) would
describe the wrong machine, so those checks are skipped and listed as such, and the
probe has no /workspace mount (a bind mount resolves on the server).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from typing import TextIO

from podman_sandbox.engine import connection
from podman_sandbox.engine.cgroup import cgroup_version
from podman_sandbox.engine.failures import (FAIL, WARN, Host, Known, containers_conf, known, podman_reason,
                                            recognise)
from podman_sandbox.errors import EXIT_OK, EXIT_PODMAN_MISSING, PodmanMissingError, SandboxError

OK = "ok"
SKIP = "skip"  # a check of this machine's files, not the remote engine's: not done
MIN_VERSION = (4, 3)  # `podman update` (live memory/CPU changes) appeared in 4.3
PROBE_MARK = "podman-sandbox-probe-ok"
PROBE_MEMORY = 64 * 1024 * 1024
PROBE_PIDS = 64
NETWORK_KEYS = ("tun", "slirp4netns", "pasta")  # known failures of the default network only
SELINUX_ENFORCE = "/sys/fs/selinux/enforce"


# ---------------------------------------------------------------- the report

@dataclass
class Finding:
    level: str
    title: str
    details: list[str] = field(default_factory=list)
    key: str | None = None


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, level: str, title: str, *details: str, key: str | None = None) -> Finding:
        finding = Finding(level, title, [d for d in details if d], key)
        self.findings.append(finding)
        return finding

    def has(self, key: str) -> bool:
        return any(f.key == key for f in self.findings)

    def add_known(self, k: Known, host: Host, said: str = "", found: str = "") -> Finding | None:
        """Report a known problem once; said: Podman's words, found: what we saw on the host."""
        if self.has(k.key):
            return None
        details = []
        if said:
            details.append(f"podman said: {said}")
        if found:
            details.append(f"found: {found}")
        if k.fix is not None:
            details.append(f"fix: {k.fix(host)}")
        return self.add(k.level, k.problem, *details, key=k.key)

    @property
    def failed(self) -> bool:
        return any(f.level == FAIL for f in self.findings)

    def write(self, stream: TextIO) -> None:
        """One finding per entry: level, title, indented details (wrapped on a terminal)."""
        width = 0
        if getattr(stream, "isatty", lambda: False)():
            width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))

        def emit(first: str, text: str, rest: str) -> None:
            lines = textwrap.wrap(text, width - len(first), break_on_hyphens=False,
                                  break_long_words=False) if width and len(first) + len(text) > width else [text]
            stream.write(first + (lines[0] if lines else "") + "\n")
            for line in lines[1:]:
                stream.write(rest + line + "\n")

        for f in self.findings:
            emit(f"{f.level:<5} ", f.title, "      ")
            for detail in f.details:
                for line in detail.splitlines():
                    emit("      ", line, "        ")
        fails = sum(f.level == FAIL for f in self.findings)
        warns = sum(f.level == WARN for f in self.findings)

        def count(n: int, word: str) -> str:
            return f"{n} {word}" + ("" if n == 1 else "s")

        if fails:
            stream.write(f"\nSandboxes cannot work here yet: {count(fails, 'problem')}"
                         + (f", {count(warns, 'warning')}" if warns else "")
                         + ". Fix them, then run `podman-sandbox doctor` again.\n")
        elif warns:
            stream.write(f"\nSandboxes work here, with {count(warns, 'warning')} above.\n")
        else:
            stream.write("\nSandboxes work here.\n")


# ---------------------------------------------------------------- host facts

def host_facts() -> Host:
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    rootless = uid != 0
    user_conf = os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"),
                             "containers", "containers.conf")
    return Host(user=user, uid=uid, rootless=rootless, user_conf=user_conf,
                conf_env=os.environ.get("CONTAINERS_CONF") or None,
                runc=shutil.which("runc") is not None)


def cgroup_layout() -> str:
    if cgroup_version() == 2:
        return "v2"
    if os.path.isdir("/sys/fs/cgroup/unified"):
        return "v1 (hybrid)"
    return "v1"


def parse_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(x) for x in match.groups() if x is not None) if match else None


# ---------------------------------------------------------------- the checks

class Doctor:
    def __init__(self, runner, image: str | None = None, host: Host | None = None):
        self.runner = runner
        self.image = image
        self.host = host or host_facts()
        self.report = Report()
        self.info: dict = {}
        self.remote = connection.is_remote()  # the checks ask the engine, not this host

    def podman(self, *args: str, env: dict | None = None):
        extra = {"env": env} if env is not None else {}
        return self.runner.run(["podman", *args], what=f"podman {args[0]}", check=False, **extra)

    def check(self) -> Report:
        self.report.add(OK, f"engine checked: {connection.describe()}")
        if self.check_podman() and self.check_info():
            if self.remote:
                self.skip_host_checks()
            elif self.host.rootless:
                self.check_rootless()
            self.check_storage()
            if not self.remote:
                self.check_selinux()
            self.check_probe()
        return self.report

    def skip_host_checks(self) -> None:
        """A remote engine: what this machine's files would tell is not the server's."""
        host = self.info.get("host") or {}
        if (host.get("security") or {}).get("rootless") and host.get("cgroupVersion") == "v1":
            self.report.add_known(known("cgroup-v1-rootless"), self.host, found="the server's podman info")
        self.report.add(SKIP, "not checked on a remote engine: the server's rootless prerequisites "
                              "(subordinate ids, newuidmap, XDG_RUNTIME_DIR, /dev/net/tun), SELinux, "
                              "and whether its store enforces `disk:`",
                        "they are files of the server, not of this machine: run "
                        "`podman-sandbox doctor` on the server to check them", key="remote-skipped")

    # -- podman itself
    def check_podman(self) -> bool:
        try:
            path = self.runner.executable()
        except PodmanMissingError as exc:
            self.report.add(FAIL, "podman is not installed (not found on PATH)",
                            f"fix: {exc.hint}" if exc.hint else "", key="podman-missing")
            return False
        result = self.podman("--version")
        version = parse_version(result.stdout)
        if result.returncode != 0 or version is None:
            self.report.add(FAIL, f"podman at {path} does not run: {podman_reason(result.stderr)}",
                            "fix: reinstall podman", key="podman-broken")
            return False
        shown = ".".join(map(str, version))
        if version < MIN_VERSION:
            self.report.add(WARN, f"podman {shown} at {path} is older than "
                                  f"{'.'.join(map(str, MIN_VERSION))}",
                            "memory and CPU changes cannot be applied live (`podman update` is "
                            "missing); the sandbox is re-created instead, other features work",
                            "fix: upgrade Podman to 4.3 or newer", key="old-podman")
        else:
            self.report.add(OK, f"podman {shown} ({path})" if not self.remote else
                            f"podman client {shown} ({path})")
        return True

    def check_info(self) -> bool:
        result = self.podman("info", "--format", "json")
        for k in recognise(result.stderr):
            self.report.add_known(k, self.host, podman_reason(result.stderr) if k.level == FAIL else "")
        if result.returncode != 0:
            if not self.report.failed and self.remote:
                self.report.add(FAIL, f"`podman info` fails on {connection.describe()}: "
                                      f"{podman_reason(result.stderr)}",
                                "fix: check that the service runs on the server and that this "
                                "machine reaches it; `podman info` shows the full error",
                                key="info-fails")
            elif not self.report.failed:
                self.report.add(FAIL, f"`podman info` fails: {podman_reason(result.stderr)}",
                                "fix: Podman itself is not working; run `podman info` to see the "
                                "full error", key="info-fails")
            return False
        try:
            self.info = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            self.info = {}
        host = self.info.get("host") or {}
        security = host.get("security") or {}
        runtime = (host.get("ociRuntime") or {}).get("name", "?")
        rootless = bool(security.get("rootless", self.host.rootless))
        cgroups = host.get("cgroupVersion", "?")
        if cgroups == "v1" and not self.remote and cgroup_layout() == "v1 (hybrid)":
            cgroups = "v1 (hybrid)"  # this host's /sys/fs/cgroup: not the server's
        driver = (self.info.get("store") or {}).get("graphDriverName", "?")
        where = ""
        if self.remote:
            version = (self.info.get("version") or {}).get("Version") or "?"
            where = f"the server {host.get('hostname') or '?'} (Podman {version}) answers: "
        self.report.add(OK, f"{where}podman works: {'rootless' if rootless else 'rootful'}, "
                            f"cgroups {cgroups}, runtime {runtime}, storage {driver}")
        return True

    # -- rootless prerequisites (the checks themselves live in engine/host.py)
    def _add_sentence(self, level: str, text: str, key: str) -> None:
        """A host.*_problem() sentence: what is wrong, then 'Fix: ...'."""
        match = re.search(r"\s*\bFix( \(as root\))?:\s*", text)
        if not match:
            self.report.add(level, text, key=key)
            return
        who = "(as root) " if match.group(1) else ""
        self.report.add(level, text[:match.start()].rstrip(". "),
                        f"fix: {who}{text[match.end():]}", key=key)

    def check_rootless(self) -> None:
        from podman_sandbox.engine import host

        h, report = self.host, self.report
        problem = host.subid_problem(h.user)
        mappings = ((self.info.get("host") or {}).get("idMappings") or {}).get("uidmap") or []
        if problem:
            self._add_sentence(FAIL, problem, "no-subuid")
        elif len(mappings) == 1 and mappings[0].get("size") == 1:
            report.add_known(known("no-subuid"), h, found="podman info shows a single-id mapping")
        else:
            report.add(OK, f"subordinate uid and gid ranges for {h.user}")
        problem = host.idmap_tools_problem()
        if problem:
            self._add_sentence(FAIL, problem, "newuidmap")
        if host.rootless_cgroup_v1():
            report.add_known(known("cgroup-v1-rootless"), h)
        problem = host.runtime_dir_problem()
        if problem:
            # Unset, Podman falls back to a folder in /tmp: it works, so only a warning.
            unset = host.runtime_dir() is None
            self._add_sentence(WARN if unset else FAIL, problem,
                               "no-xdg-runtime-dir" if unset else "xdg-runtime-dir")
        # Podman 5 names its rootless network tool (pasta by default); before, slirp4netns.
        tool = (self.info.get("host") or {}).get("rootlessNetworkCmd") or "slirp4netns"
        network = (self.info.get("host") or {}).get(tool) or {}
        if not network.get("executable") and not shutil.which(tool):
            report.add_known(known("pasta" if tool == "pasta" else "slirp4netns"), h,
                             found=f"{tool} is not installed")
        else:
            problem = host.tun_problem()
            if problem:
                report.add(FAIL, problem, key="tun")

    def check_storage(self) -> None:
        from podman_sandbox.engine import disk, host

        driver = host.storage_driver_from_info(self.info)
        note = host.storage_driver_note(driver)
        if note:
            self.report.add(WARN, note, key="vfs")
        elif driver == "vfs":
            self.report.add(WARN, "storage driver vfs: every container copies its whole image "
                                  "(slow start, much disk)",
                            'fix: driver = "overlay" under [storage] in /etc/containers/storage.conf, '
                            "then `podman system reset` (deletes ALL images and containers)", key="vfs")
        if self.remote:
            return  # the store's file system and mount options are the server's
        # Without a disk limit, code filling a sandbox's /tmp fills Podman's whole store.
        name, backing, root = disk.storage_facts(self.info)
        reason = disk.unsupported_reason(name, backing, disk.mount_options(os.path.realpath(root or "/")))
        if reason:
            self.report.add(WARN, f"disk limits (`disk:` in sandbox.yaml) are NOT enforced here: {reason}",
                            key="disk-limit")
        else:
            self.report.add(OK, f"disk limits (`disk:`) are enforced by Podman's storage ({name})")

    def check_selinux(self, path: str = SELINUX_ENFORCE) -> None:
        """Whether SELinux is enforcing: then only the project's own files are relabelled."""
        try:
            with open(path, encoding="ascii") as fh:
                mode = fh.read().strip()
        except (OSError, ValueError):
            self.report.add(OK, "SELinux: not enabled on this host (no relabelling happens)")
            return
        if mode == "1":
            self.report.add(OK, "SELinux is enforcing: the project folder and mounts inside it are "
                                "relabelled (z), no other host file; `selinux_label: disable` "
                                "turns labelling off for a sandbox")
        else:
            self.report.add(OK, "SELinux is permissive: denials are only logged; the project's own "
                                "files are relabelled (z), no other host file")

    # -- a real container
    def check_probe(self) -> None:
        image, made = self._probe_image()
        if image is None:
            return
        try:
            if self._probe(image):
                self._probe_idle(image)
        finally:
            if made:
                self.podman("rmi", "--force", image)

    def _probe_image(self) -> tuple[str | None, bool]:
        if self.image:
            result = self.podman("image", "exists", self.image)
            if result.returncode != 0:
                pulled = self.podman("pull", "--quiet", self.image)
                if pulled.returncode != 0:
                    self.report.add(FAIL, f"the probe image {self.image} is not here and cannot be "
                                          f"pulled: {podman_reason(pulled.stderr)}",
                                    "fix: name an image that is present (`podman images`), or leave "
                                    "--image out to probe with one made from the host's busybox",
                                    key="probe-image")
                    return None, False
            return self.image, False
        from podman_sandbox.localimage import build_busybox_image
        tag = f"localhost/podman-sandbox/doctor-probe:{os.getpid()}"
        try:
            build_busybox_image(self.runner, tag)
        except SandboxError as exc:
            stderr = getattr(exc, "stderr", "") or ""
            found = recognise(stderr)
            for k in found:
                self.report.add_known(k, self.host, podman_reason(stderr) if k.level == FAIL else "")
            if found:
                self.report.add(FAIL if any(k.level == FAIL for k in found) else WARN,
                                "no probe container was run: the probe image could not be made "
                                "(see above)", key="no-probe")
            else:
                self.report.add(WARN, f"no probe container was run: {exc.message}",
                                f"fix: {exc.hint}" if exc.hint else "",
                                "or name an image to probe with: podman-sandbox doctor --image IMAGE",
                                key="no-probe")
            return None, False
        return tag, True

    def _probe_argv(self, image: str, workspace: str | None, network: str | None) -> list[str]:
        """The podman arguments of a sandbox from the sandbox's own create template
        (steps.probe_argv): the options every sandbox gets. workspace: a folder of this
        machine mounted at /workspace (None: no mount, for a remote engine)."""
        from podman_sandbox.engine.desired import Desired
        from podman_sandbox.engine.steps import probe_argv
        from podman_sandbox.schema.spec import build_spec

        script = (f"echo {PROBE_MARK}; "
                  "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                  "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo unknown")
        if workspace is not None:
            script += "; echo probe > /workspace/probe"
        doc: dict = {"image": image, "name": f"podman-sandbox-doctor-probe-{os.getpid()}",
                     "memory": f"{PROBE_MEMORY // (1024 * 1024)}m", "pids_limit": PROBE_PIDS}
        if network:
            doc["network"] = network
        project = workspace if workspace is not None else tempfile.gettempdir()  # never mounted
        desired = Desired.from_spec(build_spec(doc, project_dir=project, source="", mode="project"))
        return probe_argv(desired, desired.spec.name, image, script,
                          mount_workspace=workspace is not None)[1:]  # after "podman"

    def _run_probe(self, image: str, network: str | None = None, env: dict | None = None):
        """(ran, wrote to /workspace: None when it had none, Podman's result)."""
        if self.remote:  # a bind mount resolves on the server: this machine's folder is not there
            result = self.podman(*self._probe_argv(image, None, network), env=env)
            return result.returncode == 0 and PROBE_MARK in result.stdout, None, result
        with tempfile.TemporaryDirectory(prefix="podman-sandbox-doctor-") as workspace:
            result = self.podman(*self._probe_argv(image, workspace, network), env=env)
            wrote = os.path.exists(os.path.join(workspace, "probe"))
        ok = result.returncode == 0 and PROBE_MARK in result.stdout
        return ok, wrote, result

    def _probe(self, image: str) -> bool:
        """The probe container, run; True when it ran."""
        ok, wrote, result = self._run_probe(image)
        network_note = ""
        if not ok:
            network = [k for k in recognise(result.stderr) if k.key in NETWORK_KEYS]
            if network:  # the rest may still work: probe again without a network
                for k in network:
                    self.report.add_known(k, self.host, podman_reason(result.stderr))
                ok, wrote, result = self._run_probe(image, network="none")
                network_note = " with --network none"
        if not ok:
            self._probe_failed(image, result.stderr or result.stdout)
            return False
        for k in recognise(result.stderr):  # warnings from a run that worked
            self.report.add_known(k, self.host)
        if wrote is None:
            self.report.add(OK, "a probe container runs on the engine with the sandbox's options"
                                + network_note,
                            "--init, no-new-privileges, pids and memory limits; no /workspace "
                            "mount (on a remote engine it is the --remote-workspace folder of the server)")
        else:
            self.report.add(OK, "a probe container runs with the sandbox's options" + network_note,
                            "--init, no-new-privileges, pids and memory limits, a read-write /workspace")
        if wrote is False:
            self.report.add(FAIL, "the probe container could not write to its /workspace bind mount",
                            "fix: check SELinux/AppArmor and that the user can write the project folder",
                            key="mount")
        lines = result.stdout.splitlines()
        limit = lines[lines.index(PROBE_MARK) + 1].strip() if PROBE_MARK in lines and \
            lines.index(PROBE_MARK) + 1 < len(lines) else "unknown"
        if limit.isdigit() and int(limit) == PROBE_MEMORY:
            self.report.add(OK, "memory limits are enforced (read back from the container's cgroup)")
        elif not self.report.has("cgroup-v1-rootless"):
            self.report.add(WARN, f"the memory limit did not reach the container's cgroup "
                                  f"(asked {PROBE_MEMORY}, found {limit})",
                            "sandboxes run, but `memory:` may not be enforced", key="memory")
        return True

    def _probe_idle(self, image: str) -> None:
        """Every sandbox idles in Podman's init in catatonit's pause mode (render.IDLE, -P):
        an init_path set to tini or dumb-init, which have no pause mode, fails every create.
        Asked for its version as a sandbox would start it (catatonit says `tini version
        ..._catatonit`)."""
        from podman_sandbox.engine.render import IDLE

        result = self.podman("run", "--rm", "--init", "--network", "none", "--entrypoint", IDLE,
                             image, "--version")
        said = (result.stdout + result.stderr).strip()
        if result.returncode == 0 and "catatonit" in said:
            self.report.add(OK, "Podman's init is catatonit (sandboxes idle in its pause mode)")
            return
        self.report.add(FAIL, "Podman's init is not catatonit, so no sandbox can start: each idles "
                              "in catatonit's pause mode",
                        f"it said: {said.splitlines()[0] if said else f'nothing (exit {result.returncode})'}",
                        'fix: install catatonit and set init_path = "/usr/libexec/podman/catatonit" '
                        "under [containers] in containers.conf (or remove init_path: it is Podman's default)",
                        key="init")

    def _probe_failed(self, image: str, stderr: str) -> None:
        reason = podman_reason(stderr)
        found = recognise(stderr)
        if not any(k.level == FAIL for k in found):  # unknown (at most a warning we know)
            for k in found:
                self.report.add_known(k, self.host)
            self.report.add(FAIL, f"a probe container cannot run: {reason}",
                            f"to see it yourself: podman run --rm {image} true", key="probe")
            return
        conf_keys = [key for k in found for key in k.conf]
        for k in found:
            finding = self.report.add_known(k, self.host, reason if k.level == FAIL else "")
            if finding is not None and self.remote:
                finding.details.append("this is the server's Podman: the fix is for the server, "
                                       "and a containers.conf on this machine cannot be tried for it")
        if conf_keys and not self.remote:
            self._try_conf_fix(image, conf_keys)

    def _try_conf_fix(self, image: str, keys: list[str]) -> None:
        """Run the probe with the containers.conf fix (growing it while new known errors show)."""
        keys = list(dict.fromkeys(keys))
        worked = False
        with tempfile.TemporaryDirectory(prefix="podman-sandbox-doctor-conf-") as folder:
            path = os.path.join(folder, "containers.conf")
            for _ in range(3):
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(containers_conf(keys))
                env = dict(os.environ, CONTAINERS_CONF=path)
                ok, _, result = self._run_probe(image, network="none", env=env)
                if ok:
                    worked = True
                    break
                more = [key for k in recognise(result.stderr) for key in k.conf if key not in keys]
                for k in recognise(result.stderr):
                    self.report.add_known(k, self.host, podman_reason(result.stderr) if k.level == FAIL else "")
                if not more:
                    break
                keys += more
        text = containers_conf(keys)
        finding = next(f for f in self.report.findings if f.key == keys[0])
        finding.details.append("containers.conf:\n" + "\n".join("    " + ln for ln in text.splitlines()))
        finding.details.append("checked: a probe container runs with exactly this containers.conf"
                               if worked else
                               "not enough on its own: with this containers.conf the probe still fails")


def run(runner, out=None, image: str | None = None, stream: TextIO | None = None) -> int:
    """Check the host, print the report; 0 when sandboxes can work here, else 122."""
    report = Doctor(runner, image=image).check()
    report.write(stream or sys.stdout)
    return EXIT_PODMAN_MISSING if report.failed else EXIT_OK
