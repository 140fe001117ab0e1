"""The application object the CLI hands to every command: where we are, what governs
it, and the engine entry points. Commands stay thin: options -> App -> output.
"""

from __future__ import annotations

from functools import cached_property

from podman_sandbox.engine.runner import Runner
from podman_sandbox.locate import Target, locate
from podman_sandbox.output import Output

TYPE_CHECKING = False  # typing's import costs milliseconds; mypy sees True
if TYPE_CHECKING:  # pragma: no cover - types only
    from podman_sandbox.engine.desired import Desired
    from podman_sandbox.engine.firstlook import FirstLook
    from podman_sandbox.schema.spec import Spec


ALLOW_BROAD_ENV = "PODMAN_SANDBOX_ALLOW_BROAD_MOUNT"


def check_workspace(project_dir: str) -> None:
    """/workspace is mounted read-write: never the whole host, a folder holding your home
    folder or a system folder by accident (classic mode mounts the current folder, so
    `cd ~ && podman-sandbox execute` would), never one inside a folder another user can
    change, and never a path Podman cannot mount."""
    import os

    from podman_sandbox.errors import RefusedError, SandboxError
    from podman_sandbox.schema.hostpaths import broad_reason

    if ":" in project_dir:
        raise SandboxError(f"cannot mount {project_dir} at /workspace: Podman's --volume "
                           "cannot carry a path with ':'", hint="rename the folder or work from another one")
    reason = broad_reason(project_dir)
    if reason and os.environ.get(ALLOW_BROAD_ENV) != "1":
        raise RefusedError(
            f"refusing to mount {reason} read-write at /workspace",
            hint=f"run podman-sandbox from a project folder, or set {ALLOW_BROAD_ENV}=1 "
                 "if you really mean it")
    from podman_sandbox.private import UnsafePathError, check_chain

    # Whoever can change a folder above it can swap the project for a link to any folder
    # of yours between this check and Podman's mount (it is checked again at create).
    for above in {os.path.dirname(os.path.normpath(project_dir)),
                  os.path.dirname(os.path.realpath(project_dir))}:
        try:
            check_chain(above)
        except UnsafePathError as exc:
            raise RefusedError(
                f"refusing to mount {project_dir} at /workspace: {exc.strerror or exc}, so "
                "another user could swap it for any folder of yours",
                hint="move the project into a folder only you (or root) can change") from None
        except OSError:
            pass  # missing or unreadable: Podman's mount says so


class App:
    def __init__(self, *, spec_file: str | None = None, verbose: bool = False,
                 quiet: bool = False, runner: Runner | None = None,
                 instance: str | None = None, workspace: str | None = None,
                 cwd: str | None = None, prompt: bool = True):
        """cwd: where we are (default: the process's); prompt: may ask to approve grants
        on a terminal (the API and the MCP server never ask)."""
        self.spec_file = spec_file
        self.instance = instance or None  # --instance / PODMAN_SANDBOX_INSTANCE (instance.py)
        self.workspace = workspace  # --workspace: bind | worktree | copy (instances only)
        self.cwd = cwd
        self.prompt = prompt
        self.out = Output(quiet=quiet, verbose=verbose)
        self.runner = runner or Runner(verbose=verbose)
        self.spec_invalid = False  # set by tolerate_invalid_spec when it fell back

    @cached_property
    def target(self) -> Target:
        target = locate(self.spec_file, self.cwd)
        if target.mode == "classic":
            from podman_sandbox.locate import foreign_spec_file
            foreign = foreign_spec_file(target.cwd)
            if foreign:
                self.out.notice(f"ignoring {foreign[0]}: {foreign[1]} (use -f to choose it "
                                "anyway); your own settings apply")
        elif self.spec_file:
            from podman_sandbox.locate import foreign_reason
            why = foreign_reason(target.spec_path)
            if why:  # the user's explicit choice stands; say whose file it is
                self.out.notice(f"using {target.spec_path} because -f chose it, although {why}")
        return target

    @cached_property
    def spec(self) -> Spec:
        """The spec of the sandbox the command acts on: the project's, or with --instance
        that instance's (engine/instances.py)."""
        project = self.project_spec
        if not self.instance:
            if self.workspace:
                from podman_sandbox.errors import UsageError
                raise UsageError("--workspace chooses what an instance mounts: add --instance NAME "
                                 "(the plain sandbox always mounts the project folder)")
            return project
        from podman_sandbox.engine.instances import instance_spec
        return instance_spec(project, self.layout)

    @cached_property
    def layout(self):
        """Where the instance lives and what it mounts (engine/workspace.py)."""
        from podman_sandbox.engine import workspace
        from podman_sandbox.errors import UsageError
        if not self.instance:
            raise UsageError("this command needs --instance NAME")
        project = self.project_spec
        return workspace.resolve(project.project_dir, self.instance, self.workspace, project.workspace)

    @cached_property
    def project_document(self) -> dict:
        """The project's validated spec document (schema/source.py)."""
        from podman_sandbox.schema.source import read_document
        # The fast-path record must be keyed by the bytes this spec came from: read the
        # key before and after loading; if the file changed meanwhile, write no record.
        before = self.record_key_now()
        target = self.target
        doc = read_document(target.spec_path, kind=target.mode, base_dir=target.project_dir)
        self._spec_record_key = before if self.record_key_now() == before else None
        return doc

    @cached_property
    def project_spec(self) -> Spec:
        from podman_sandbox.schema.spec import build_spec
        target = self.target
        return build_spec(self.project_document, project_dir=target.project_dir,
                          source=target.spec_path, mode=target.mode)

    @property
    def desired(self) -> Desired:
        # Computed once per spec: it hashes the setup inputs and the build context.
        if self.__dict__.get("_desired_of") is not self.spec:
            from podman_sandbox.engine.desired import Desired
            self._desired = Desired.from_spec(self.spec, strict=not self.__dict__.get("_tolerant"))
            self._desired_of = self.spec
        return self._desired

    def reload(self) -> None:
        """Forget the loaded spec (after configure rewrote it)."""
        for name in ("spec", "project_spec", "project_document", "layout", "_desired_of"):
            self.__dict__.pop(name, None)

    def tolerate_invalid_spec(self) -> None:
        """For stop, reset, status and logs: a broken spec file (a bad `git pull`) must not
        lock you out of your sandbox. Falls back to what can still be read of the file:
        its name, and auto_commit (taken as on when unreadable: committing loses nothing)."""
        from podman_sandbox.errors import SpecError

        self._tolerant = True  # and a refused input or build context (Desired.from_spec)
        try:
            self.project_spec  # noqa: B018 - loads it
        except SpecError as exc:
            self.__dict__["project_spec"] = self._recovery_spec(exc)
            self.spec_invalid = True  # what it asks for is unknown (status shows no "wanted")

    def _recovery_spec(self, error) -> Spec:
        import re

        from podman_sandbox.schema.spec import build_spec

        raw = None
        try:
            import yaml

            from podman_sandbox.specfile import read_spec_file
            raw = yaml.safe_load(read_spec_file(self.target.spec_path).decode("utf-8"))
        except Exception:  # any reason the file cannot be read: nothing of it is used
            pass
        raw = raw if isinstance(raw, dict) else {}
        auto_commit = raw.get("auto_commit", False) if raw else True
        doc: dict = {"auto_commit": auto_commit if isinstance(auto_commit, bool) else True}
        name = raw.get("name")
        if isinstance(name, str) and re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}", name):
            doc["name"] = name
        if isinstance(raw.get("image"), str) and raw["image"].strip():
            doc["image"] = raw["image"].strip()
        spec = build_spec(doc, project_dir=self.target.project_dir, source=self.target.spec_path,
                          mode=self.target.mode)
        for problem in error.problems:  # every one, as start and apply list them
            self.out.notice(problem)
        self.out.notice(f"the spec is invalid ({len(error.problems)} problem(s) above); acting on "
                        f"sandbox {spec.name} anyway (fix the file before the next start)")
        return spec

    def record_key_now(self) -> str:
        from podman_sandbox.engine import record
        return record.record_key(self.target.spec_path, self.target.project_dir, self.instance or "")

    def record_key(self) -> str | None:
        """The record key of the spec as loaded (None: the file changed while loading)."""
        if "project_spec" not in self.__dict__:
            self.project_document  # noqa: B018 - loads it, and the key with it
        if "_spec_record_key" not in self.__dict__:  # a spec set from outside (tests)
            return self.record_key_now()
        return self._spec_record_key

    def check_consent(self, *, allow: bool = False, look: FirstLook | None = None) -> None:
        """Refuse (exit 123) a spec whose grants the user has not approved (trust.py), before
        anything is pulled, built or created. allow: approve them now (apply/start --allow);
        on a terminal (stdin and stderr), the user is asked. look: closed before asking
        (its sandbox lock is not held while a person reads the question)."""
        from podman_sandbox import trust

        found = trust.consent(self.spec)
        if not found.pending:
            return
        if not allow and look is not None and self._may_ask():
            look.close(discard=True)  # a slow Podman must not hold the question back
        if allow or self._ask(found):
            path = trust.approve(self.spec, found)
            self.out.step(f"approved {len(found.grants)} grant(s) of {self.spec.source} "
                          f"(recorded in {path})")
            return
        raise trust.ConsentError(self.spec, found, self.spec_file)

    def _may_ask(self) -> bool:
        import sys

        return self.prompt and sys.stdin.isatty() and sys.stderr.isatty()  # never a pipe, CI, a script

    def _ask(self, found) -> bool:
        import sys

        if not self._may_ask():
            return False
        sys.stderr.write(f"{self.spec.source} grants what you have not approved:\n")
        for grant in found.pending:
            sys.stderr.write(f"  {grant.text}\n")
        sys.stderr.write("approve? [y/N] ")
        sys.stderr.flush()
        try:
            answer = sys.stdin.readline()
        except OSError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def converge(self, *, force: bool = False, imperative: bool | None = None,
                 allow: bool = False):
        """imperative: discard uncommitted changes with a notice instead of refusing.
        allow: approve the spec's grants first (see check_consent).

        Default: only in classic mode, where the user's own cd or configure causes
        the re-create (the original tool's behaviour). In a project the spec can
        change under you (a git pull), so start/execute refuse like apply.
        """
        from podman_sandbox.engine import connection
        if connection.is_remote():
            from podman_sandbox.engine import remote
            remote.check_spec(self.spec)
            remote.engine_info(self.runner)  # its rootlessness and cgroups decide the limits
            self.check_consent(allow=allow)
            self._ensure_instance()
            from podman_sandbox.engine.apply import converge
            # No fast-path record for a remote engine: its pids are not in our /proc.
            return converge(self.runner, self.desired, out=self.out, force=force,
                            imperative=self._imperative(imperative))
        # The survey's reads run while the Spec is built, consent checked, the planner
        # imported and the desired state made: a project's as soon as its document is
        # read, an instance's once its workspace is there.
        look = None if self.instance else self._first_look(self._project_names())
        try:
            check_workspace(self.spec.project_dir)
            if self.target.mode == "classic":
                from podman_sandbox.engine.ownership import require_not_a_lost_project
                require_not_a_lost_project(self.runner, self.spec.project_dir)
            self.check_consent(allow=allow, look=look)
            if self.instance:
                self._ensure_instance()
                look = self._first_look((self.spec.name, self.spec.image))
            from podman_sandbox.engine.apply import converge
            return converge(self.runner, self.desired, out=self.out, force=force,
                            imperative=self._imperative(imperative), record_key=self.record_key(),
                            first_look=look)
        finally:
            if look is not None:
                look.close()

    def _imperative(self, imperative: bool | None) -> bool:
        return self.target.mode == "classic" if imperative is None else imperative

    def _ensure_instance(self) -> None:
        if self.instance:  # its worktree or copy, made once, after consent
            from podman_sandbox.engine.instances import ensure
            ensure(self.spec, self.layout, self.out)

    def _project_names(self) -> tuple[str, str]:
        """The project's sandbox and image: the Spec's, or before it is built (it costs
        the dataclasses' import) as its document names them (the same functions)."""
        if "project_spec" in self.__dict__:
            return self.project_spec.name, self.project_spec.image
        from podman_sandbox.schema import naming
        doc, target = self.project_document, self.target
        return (naming.sandbox_name(doc, project_dir=target.project_dir, mode=target.mode),
                naming.image_name(doc))

    def _first_look(self, names: tuple[str, str]) -> FirstLook | None:
        """The survey's first reads for the sandbox and image named, begun now; None when
        the sandbox's lock is busy or Podman cannot be started: the converge then finds
        that out after its checks, as it would without a look."""
        from podman_sandbox.engine import record
        from podman_sandbox.engine.firstlook import FirstLook
        from podman_sandbox.errors import LockError, PodmanMissingError
        key = self.record_key()
        try:
            return FirstLook(self.runner, *names,
                             change_likely=key is None or record.lookup(key) is None)
        except (LockError, PodmanMissingError):
            return None

    def run_in_sandbox(self, command: str, *, interactive: bool, timeout: float | None = None) -> int:
        """Converge, then run command with `sh -c` in the sandbox (execute, shell)."""
        from podman_sandbox.engine import execute

        outcome = self.converge()
        spec = self.spec
        import time
        started = time.time()
        code = execute.run(spec.name, command, workdir=self.target.workdir, interactive=interactive,
                           timeout=timeout, init_pid=outcome.actual.pid, memory_limit=spec.memory,
                           podman=self.runner.executable(), verbose=self.runner.verbose)
        if self.instance:
            from podman_sandbox import instance
            instance.append_log(self.layout.folder, started, code, command)
        return code

    def forget_record(self) -> None:
        from podman_sandbox.engine import record
        record.forget(self.record_key_now())
        record.forget_container(self.spec.name)  # e.g. records made from other folders (classic)

    def forget_project_records(self) -> None:
        """The fast-path records of the project and of every instance of it."""
        import os

        from podman_sandbox import instance
        from podman_sandbox.engine import record
        from podman_sandbox.engine.instances import sandbox_base
        self.forget_record()
        try:
            names = os.listdir(os.path.dirname(instance.folder(self.target.project_dir, "x")))
        except OSError:
            names = []
        for name in names:
            record.forget(record.record_key(self.target.spec_path, self.target.project_dir, name))
            record.forget_container(instance.container_name(sandbox_base(self.project_spec), name))
