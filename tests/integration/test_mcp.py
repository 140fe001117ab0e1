"""`podman-sandbox mcp` driven by the MCP SDK's own stdio client, against a real Podman."""

from __future__ import annotations

import json
import os
import sys
import uuid

import pytest

from harness import podman

mcp = pytest.importorskip("mcp", reason="the MCP SDK (the test extra installs it)")
anyio = pytest.importorskip("anyio")
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

TOOLS = {"run", "read_file", "write_file", "list_files", "status", "commit", "reset"}


def _is_error(result) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def _data(result) -> dict:
    """A tool's dict result (its structured content, else the JSON text)."""
    assert not _is_error(result), _text(result)
    structured = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    if structured is not None:
        return structured.get("result", structured) if set(structured) == {"result"} else structured
    return json.loads(_text(result))


def _text(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def session(sandbox, calls, extra: tuple[str, ...] = (), env_extra: dict | None = None):
    """Start `podman-sandbox mcp --project DIR [EXTRA...]` and run the async calls(session)
    on it."""
    env = {k: v for k, v in sandbox.env.items() if k.startswith(("XDG_", "CONTAINERS_", "PYTHON"))
           or k in ("PATH", "HOME")}
    if os.environ.get("CONTAINERS_CONF"):
        env["CONTAINERS_CONF"] = os.environ["CONTAINERS_CONF"]
    env.update(env_extra or {})
    params = StdioServerParameters(command=sys.executable, env=env, cwd=str(sandbox.root),
                                   args=["-m", "podman_sandbox", "mcp", "--project",
                                         str(sandbox.project), "--max-output", "1000", *extra])

    async def main():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as client:
                await client.initialize()
                return await calls(client)

    return anyio.run(main)


@pytest.fixture
def project(sandbox):
    sandbox.name = f"pstest-mcp-{uuid.uuid4().hex[:10]}"
    sandbox.write_spec(f"image: {sandbox.image}\nname: {sandbox.name}\nmemory: 64m\n")
    return sandbox


def test_tools_run_files_and_escapes(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    os.symlink(outside / "secret", project.project / "planted")  # as code inside could
    os.symlink(outside, project.project / "planted-dir")

    async def calls(client):
        found = {}
        found["tools"] = {t.name for t in (await client.list_tools()).tools}
        found["echo"] = _data(await client.call_tool("run", {"command": "echo hi; echo err >&2; exit 3"}))
        found["stdin"] = _data(await client.call_tool("run", {"command": "wc -c", "stdin": "abcd"}))
        found["long"] = _data(await client.call_tool("run", {"command": "seq 1 5000"}))
        found["timeout"] = _data(await client.call_tool(
            "run", {"command": "sleep 300 & sleep 301", "timeout": 1}))
        found["ps"] = podman("top", project.name, "args").stdout
        found["write"] = _data(await client.call_tool("write_file", {"path": "d/f.txt",
                                                                     "content": "héllo\n"}))
        found["inside"] = _data(await client.call_tool("run", {"command": "cat d/f.txt"}))
        found["read"] = _data(await client.call_tool("read_file", {"path": "/workspace/d/f.txt"}))
        found["list"] = _data(await client.call_tool("list_files", {"path": ""}))
        found["escapes"] = {p: await client.call_tool("read_file", {"path": p})
                            for p in ("../x", "/etc/passwd", "planted", "planted-dir/secret")}
        found["write_out"] = await client.call_tool("write_file", {"path": "planted", "content": "x"})
        found["status"] = _data(await client.call_tool("status", {}))
        return found

    found = session(project, calls)
    assert found["tools"] >= TOOLS
    assert found["echo"]["exit_code"] == 3
    assert (found["echo"]["stdout"], found["echo"]["stderr"]) == ("hi\n", "err\n")
    assert found["stdin"]["stdout"].strip() == "4"
    long = found["long"]
    assert long["truncated"] == ["stdout"] and "bytes cut" in long["stdout"]
    assert long["stdout"].startswith("1\n2\n") and long["stdout"].endswith("4999\n5000\n")
    timed = found["timeout"]
    assert timed["timed_out"] is True and timed["exit_code"] == 124 and "timed out" in timed["message"]
    assert "sleep 30" not in found["ps"]  # everything it started was stopped
    assert found["write"]["written"] == len("héllo\n".encode())
    assert found["inside"]["stdout"] == "héllo\n"
    assert found["read"]["content"] == "héllo\n" and found["read"]["encoding"] == "utf-8"
    kinds = {e["name"]: e["kind"] for e in found["list"]["entries"]}
    assert kinds["d"] == "dir" and kinds["planted"] == "symlink"
    for path, result in found["escapes"].items():
        assert _is_error(result), path
        assert "refusing" in _text(result), _text(result)
    assert _is_error(found["write_out"])
    assert (outside / "secret").read_text() == "host secret"
    assert found["status"]["running"] is True


def test_out_of_memory_is_a_result(project):
    async def calls(client):
        return _data(await client.call_tool(
            "run", {"command": "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo never"}))

    result = session(project, calls)
    assert result["oom_killed"] is True and result["exit_code"] == 137


def test_the_agent_cannot_approve_a_grant(project, tmp_path):
    """The spec is in /workspace: the agent can write a mount into it, never approve it."""
    shared = tmp_path / "host"
    shared.mkdir()
    spec = (project.project / "sandbox.yaml").read_text()

    async def calls(client):
        wrote = await client.call_tool("write_file", {
            "path": "sandbox.yaml", "content": spec + f"mounts:\n  - source: {shared}\n    target: /h\n"})
        return wrote, await client.call_tool("run", {"command": "ls /h"})

    wrote, ran = session(project, calls)
    assert not _is_error(wrote)
    assert _is_error(ran) and "podman-sandbox allow" in _text(ran), _text(ran)
    assert not project.containers()  # nothing was created


def test_without_the_sdk_it_says_how_to_install_it(project):
    blocker = project.root / "no-mcp"
    blocker.mkdir()
    (blocker / "mcp.py").write_text("raise ImportError('blocked for the test')\n")
    env = dict(project.env, PYTHONPATH=os.pathsep.join([str(blocker), project.env["PYTHONPATH"]]))
    import subprocess
    proc = subprocess.run([sys.executable, "-m", "podman_sandbox", "mcp"], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 122
    # The hint installs the extra into this very interpreter: the package is not on PyPI.
    assert f"hint: {sys.executable} -m pip install 'mcp>=" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_instance_serves_every_tool(project):
    """`mcp --instance NAME` (and PODMAN_SANDBOX_INSTANCE) drive that instance: its own
    container and its own copy of the files; the project's sandbox and folder untouched."""
    (project.project / "shared.txt").write_text("from the project\n")

    async def first(client):
        return {"run": _data(await client.call_tool(
                    "run", {"command": "cat shared.txt; echo mine > mine.txt"})),
                "write": _data(await client.call_tool("write_file", {"path": "w.txt",
                                                                     "content": "written\n"})),
                "status": _data(await client.call_tool("status", {}))}

    async def again(client):
        return {"read": _data(await client.call_tool("read_file", {"path": "mine.txt"})),
                "inside": _data(await client.call_tool("run", {"command": "cat w.txt"}))}

    found = session(project, first, extra=("--instance", "a"))
    assert found["run"]["exit_code"] == 0 and found["run"]["stdout"] == "from the project\n"
    assert found["status"]["instance"]["name"] == "a"
    assert found["status"]["name"] == f"{project.name}--a"
    assert podman("inspect", f"{project.name}--a", check=False).returncode == 0
    assert podman("container", "exists", project.name, check=False).returncode == 1
    assert not (project.project / "mine.txt").exists() and not (project.project / "w.txt").exists()
    later = session(project, again, env_extra={"PODMAN_SANDBOX_INSTANCE": "a"})
    assert later["read"]["content"] == "mine\n"
    assert later["inside"]["stdout"] == "written\n"
    log = project.ok("log", "--instance", "a", "--json").stdout
    assert "echo mine > mine.txt" in log and "cat w.txt" in log
