"""An instance's own copy of the files: bind | worktree | copy, and git on the host.

- worktree (the default in a git repository): `git worktree add -b sandbox/NAME`
  from the repository's HEAD, kept in the instance's private folder
  (instance.folder), mounted at /workspace (the project's subfolder of it when the
  project is a subfolder of the repository). Its git metadata stays in the user's
  repository, out of the sandbox's reach.
- copy (the default elsewhere): a private copy of the project folder, and a
  private git repository beside it (never inside it) holding the copy as it
  started, so `diff` can show what changed and export it as a patch.
- bind: the project folder itself, as the plain sandbox has it.

The sandbox can write every file of the workspace, `.git` included: it could make
`.git` a folder whose config runs a program (core.fsmonitor, hooks), or plant a
submodule whose config does. So every git command run on a workspace names the
git folder and work tree itself (--git-dir/--work-tree: nothing is discovered
from the workspace), turns off fsmonitor, hooks, submodule recursion, external
diff and textconv drivers, ignores the system config and never prompts
(tests/security/test_instance_isolation.py). argv lists only, never a shell.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass

from podman_sandbox import instance, private
from podman_sandbox.errors import RefusedError, SandboxError

MODES = ("bind", "worktree", "copy")
META = "meta.json"
FORMAT = 1
BOT = ("-c", "user.name=podman-sandbox", "-c", "user.email=podman-sandbox@localhost")

# Whatever the workspace or a config holds, git runs nothing of it.
SAFE_OPTIONS = ("--no-pager", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
                "-c", "core.untrackedCache=false", "-c", "submodule.recurse=false",
                "-c", "diff.ignoreSubmodules=all", "-c", "diff.external=",
                "-c", "protocol.allow=never", "-c", "core.sshCommand=false")


def branch(name: str) -> str:
    return f"sandbox/{name}"


def safe_env() -> dict:
    """The environment git runs in: no GIT_* of ours steers it, no system config, no prompt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


def git_argv(*args: str, cwd: str | None = None, git_dir: str | None = None,
             work_tree: str | None = None) -> list[str]:
    argv = ["git", *SAFE_OPTIONS]
    if cwd:
        argv += ["-C", cwd]
    if git_dir:
        argv.append(f"--git-dir={git_dir}")
    if work_tree:
        argv.append(f"--work-tree={work_tree}")
    return argv + list(args)


def git(*args: str, check: bool = True, env: dict | None = None,
        **where: str | None) -> subprocess.CompletedProcess:
    argv = git_argv(*args, **where)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env={**safe_env(), **(env or {})},
                                stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise SandboxError("git is not installed: an instance's worktree and `diff` need it",
                           hint="install git, or use --workspace bind") from None
    if check and result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise SandboxError(f"git {args[0]} failed: {last}")
    return result


def repository(project_dir: str) -> tuple[str, str] | None:
    """(the top of the git work tree holding project_dir, project_dir's path in it), or
    None when project_dir is in no git repository (or git is missing)."""
    try:
        found = git("rev-parse", "--show-toplevel", cwd=project_dir, check=False)
    except SandboxError:
        return None
    top = found.stdout.strip()
    if found.returncode != 0 or not top:
        return None
    rel = os.path.relpath(os.path.realpath(project_dir), os.path.realpath(top))
    return top, "" if rel == "." else rel


@dataclass(frozen=True)
class Layout:
    name: str
    mode: str
    folder: str  # the instance's private folder
    mount: str  # what is mounted at /workspace
    meta: dict | None  # None: not made yet


def read_meta(folder: str) -> dict | None:
    try:
        data = json.loads(private.read_private(os.path.join(folder, META), limit=1 << 16))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def resolve(project_dir: str, name: str, requested: str | None, field: str | None) -> Layout:
    """Where instance name of the project lives, and in which mode: --workspace, else the
    spec's workspace:, else worktree in a git repository and copy elsewhere. An instance
    already made keeps its mode (asking for another one is refused)."""
    folder = instance.folder(project_dir, name)
    meta = read_meta(folder)
    if meta:
        if requested and requested != meta["mode"]:
            raise RefusedError(f"instance {name!r} was made with --workspace {meta['mode']}",
                               hint=f"discard it first (`podman-sandbox discard --instance {name}`)")
        return Layout(name, meta["mode"], folder, meta["mount"], meta)
    mode = requested or field
    repo = repository(project_dir) if mode in (None, "worktree") else None
    if mode is None:
        mode = "worktree" if repo else "copy"
    if mode == "bind":
        mount = project_dir
    elif mode == "worktree":
        if repo is None:
            raise SandboxError(f"{project_dir} is not in a git repository: no worktree possible",
                               hint="use --workspace copy (a private copy) or bind")
        mount = os.path.join(folder, "workspace", repo[1]) if repo[1] else os.path.join(folder, "workspace")
    else:
        mount = os.path.join(folder, "workspace")
    return Layout(name, mode, folder, os.path.normpath(mount), None)


def create(layout: Layout, project_dir: str, spec_path: str, out) -> dict:
    """Make the instance's folder and workspace (once); returns its meta. The caller holds
    the project's workspace lock (git worktree add is not safe to run in parallel)."""
    again = read_meta(layout.folder)
    if again:
        return again
    instance.ensure_folder(layout.folder)
    root = os.path.join(layout.folder, "workspace")
    meta = {"format": FORMAT, "name": layout.name, "mode": layout.mode, "project": project_dir,
            "spec": spec_path, "mount": layout.mount, "created": time.time()}
    if os.path.lexists(root):
        _remove_tree(root)  # a half-made workspace of a killed run
    if layout.mode == "worktree":
        repo = repository(project_dir)
        if repo is None:  # resolve() saw one; it went away since
            raise SandboxError(f"{project_dir} is no longer in a git repository: no worktree possible",
                               hint="use --workspace copy (a private copy) or bind")
        top = repo[0]
        head = git("rev-parse", "--verify", "-q", "HEAD^{commit}", cwd=top, check=False).stdout.strip()
        if not head:
            raise SandboxError(f"the repository {top} has no commit yet: a worktree starts from HEAD",
                               hint="commit first, or use --workspace copy")
        out.step(f"instance {layout.name}: git worktree add -b {branch(layout.name)} {root} HEAD")
        git("worktree", "add", "-q", "-b", branch(layout.name), root, head, cwd=top)
        # Read now, before the sandbox can touch anything in the worktree.
        git_dir = git("rev-parse", "--absolute-git-dir", cwd=root).stdout.strip()
        meta.update(repo=top, git_dir=git_dir, work_tree=root, base=head, branch=branch(layout.name))
    elif layout.mode == "copy":
        out.step(f"instance {layout.name}: copying {project_dir} to {root}")
        shutil.copytree(project_dir, root, symlinks=True, ignore=_special_files)
        git_dir = os.path.join(layout.folder, "baseline.git")
        if os.path.lexists(git_dir):
            _remove_tree(git_dir)
        git("init", "-q", git_dir=git_dir, work_tree=root)
        git("add", "-A", git_dir=git_dir, work_tree=root)
        git(*BOT, "commit", "-q", "--allow-empty", "--no-verify", "-m", "the copy as it started",
            git_dir=git_dir, work_tree=root)
        base = git("rev-parse", "HEAD", git_dir=git_dir, work_tree=root).stdout.strip()
        meta.update(git_dir=git_dir, work_tree=root, base=base)
    private.write_private(os.path.join(layout.folder, META), json.dumps(meta, indent=2).encode())
    return meta


def _special_files(folder: str, names: list[str]) -> list[str]:
    """FIFOs, sockets and devices are not copied (reading a FIFO would block)."""
    skipped = []
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            skipped.append(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skipped.append(name)
    return skipped


# --- what changed ---------------------------------------------------------------------

def _where(meta: dict) -> dict:
    return {"git_dir": meta["git_dir"], "work_tree": meta["work_tree"]}


def _needs_git(meta: dict) -> None:
    if meta.get("mode") == "bind":
        raise SandboxError(f"instance {meta['name']!r} works in the project folder itself (bind): "
                           "there is no copy to compare", hint="use git status / git diff there")


def _snapshot_env(meta: dict) -> dict:
    """A throwaway index in the instance's private folder: looking never touches the
    worktree's own index."""
    index = os.path.join(os.path.dirname(meta["work_tree"]), "look.index")
    try:
        os.unlink(index)
    except FileNotFoundError:
        pass
    return {"GIT_INDEX_FILE": index}


def changes(meta: dict, *, stat_only: bool = False, names_only: bool = False) -> str:
    """What the instance changed against where it started: its commits and its
    uncommitted and new files (not ignored ones), as a patch `git apply` takes."""
    _needs_git(meta)
    env = _snapshot_env(meta)
    where = _where(meta)
    git("read-tree", "HEAD", env=env, **where)
    git("add", "-A", env=env, **where)
    how = ["--stat"] if stat_only else ["--name-status"] if names_only else ["--binary"]
    return git("diff", "--cached", "--no-ext-diff", "--no-textconv", "--no-color", *how,
               meta["base"], env=env, **where).stdout


def uncommitted(meta: dict) -> list[str]:
    """Files of the workspace that differ from its branch's last commit."""
    env = _snapshot_env(meta)
    where = _where(meta)
    git("read-tree", "HEAD", env=env, **where)
    git("add", "-A", env=env, **where)
    out = git("diff", "--cached", "--no-ext-diff", "--no-textconv", "--name-only", "HEAD",
              env=env, **where).stdout
    return [line for line in out.splitlines() if line]


def unmerged(meta: dict) -> list[str]:
    """What discarding would lose: uncommitted files, and for a worktree the commits of
    sandbox/NAME that the repository's HEAD does not contain."""
    if meta.get("mode") == "bind":
        return []
    if meta["mode"] == "copy":
        return [line.split("\t", 1)[-1] for line in changes(meta, names_only=True).splitlines() if line]
    lost = uncommitted(meta)
    if os.path.isdir(meta["repo"]):
        merged = git("merge-base", "--is-ancestor", meta["branch"], "HEAD", cwd=meta["repo"], check=False)
        if merged.returncode == 1:
            count = git("rev-list", "--count", f"HEAD..{meta['branch']}", cwd=meta["repo"],
                        check=False).stdout.strip()
            lost.append(f"{count or 'some'} commit(s) on {meta['branch']} not merged")
    return lost


def commit_work(meta: dict, message: str) -> str | None:
    """Commit the worktree's uncommitted files on sandbox/NAME; the new commit, or None."""
    if not uncommitted(meta):
        return None
    where = _where(meta)
    git("add", "-A", **where)
    ident = () if git("config", "user.email", check=False, **where).stdout.strip() else BOT
    git(*ident, "commit", "-q", "--no-verify", "-m", message, **where)
    return git("rev-parse", "HEAD", **where).stdout.strip()


def merge(meta: dict) -> subprocess.CompletedProcess:
    """Exactly `git merge sandbox/NAME` in the user's repository (hooks and fsmonitor off)."""
    return git("merge", "--no-edit", meta["branch"], cwd=meta["repo"], check=False)


def remove(meta: dict | None, folder: str, out) -> None:
    """The worktree (and its branch) or copy, then the instance's folder."""
    worktree = (meta if meta and meta.get("mode") == "worktree" and os.path.isdir(meta.get("repo", ""))
                else None)
    if worktree:
        # Fails when the sandbox replaced the worktree's .git: the folder goes anyway, and
        # prune then forgets the worktree, so that its branch can be deleted.
        git("worktree", "remove", "--force", "--force", worktree["work_tree"], cwd=worktree["repo"],
            check=False)
    if os.path.lexists(folder):
        _remove_tree(folder)
    if worktree:
        git("worktree", "prune", cwd=worktree["repo"], check=False)
        gone = git("branch", "-D", worktree["branch"], cwd=worktree["repo"], check=False)
        if gone.returncode == 0:
            out.step(f"deleted the branch {worktree['branch']}")
        else:
            out.notice(f"could not delete the branch {worktree['branch']}: "
                       f"{(gone.stderr.strip().splitlines() or ['?'])[-1]}")


def _remove_tree(path: str) -> None:
    """Remove what the sandbox wrote too: folders it made read-only are opened first
    (rmtree never follows a symlink)."""
    def retry(func, target, _exc):
        parent = os.path.dirname(target)
        try:
            os.chmod(parent, stat.S_IRWXU, follow_symlinks=False)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
            func(target)
        except OSError:
            pass
    shutil.rmtree(path, onerror=retry)
    if os.path.lexists(path) and os.geteuid() != 0:
        # Rootless: files a non-root user in the sandbox wrote belong to one of your
        # subordinate ids; in Podman's user namespace you may remove them (not tested
        # here: the rootless suite has no instance test yet).
        subprocess.run(["podman", "unshare", "rm", "-rf", "--", path], check=False,
                       stdin=subprocess.DEVNULL, capture_output=True)


def all_metas() -> list[tuple[str, dict]]:
    """(folder, meta) of every instance of this user."""
    found = []
    top = instance.root()
    try:
        projects = sorted(os.listdir(top))
    except OSError:
        return []
    for project in projects:
        try:
            names = sorted(os.listdir(os.path.join(top, project)))
        except OSError:
            continue
        for name in names:
            folder = os.path.join(top, project, name)
            meta = read_meta(folder)
            if meta:
                found.append((folder, meta))
    return found
