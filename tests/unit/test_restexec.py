"""engine/restexec.py without Podman: which socket is trusted, and its small HTTP client
against a stand-in server on a unix socket (the real service: tests/integration/test_api.py)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from podman_sandbox.engine import restexec


@pytest.fixture
def sock_path(tmp_path, monkeypatch):
    monkeypatch.delenv("PODMAN_SANDBOX_REST", raising=False)
    path = tmp_path / "podman.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    yield path, server
    server.close()


def test_the_socket_is_named_and_never_used_on_a_remote_engine(sock_path, monkeypatch):
    path, _ = sock_path
    monkeypatch.delenv("CONTAINER_HOST", raising=False)
    monkeypatch.setenv(restexec.SOCKET_ENV, str(path))
    assert restexec.socket_path() == str(path)
    monkeypatch.setenv("PODMAN_SANDBOX_REST", "0")
    assert restexec.socket_path() is None  # turned off
    monkeypatch.setenv("PODMAN_SANDBOX_REST", "1")
    # A remote engine (even a unix:// one: it may be forwarded): this host's /proc could
    # not stop what the command starts, so `podman exec` through the connection serves.
    for host in ("ssh://core@host/run/podman/podman.sock", f"unix://{path}"):
        monkeypatch.setenv("CONTAINER_HOST", host)
        assert restexec.socket_path() is None
    monkeypatch.delenv("CONTAINER_HOST")
    monkeypatch.setenv(restexec.SOCKET_ENV, str(path.parent / "missing.sock"))
    assert restexec.socket_path() is None


def test_a_plain_file_is_not_a_socket(tmp_path, monkeypatch):
    monkeypatch.delenv("PODMAN_SANDBOX_REST", raising=False)
    fake = tmp_path / "podman.sock"
    fake.write_text("")
    monkeypatch.setenv(restexec.SOCKET_ENV, str(fake))
    assert restexec.socket_path() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_another_users_socket_is_never_used(sock_path, monkeypatch):
    """Their socket would be their Podman: our commands would run where they choose."""
    path, _ = sock_path
    os.chown(path, 54321, 54321)
    monkeypatch.setenv(restexec.SOCKET_ENV, str(path))
    assert restexec.socket_path() is None


def _serve(server, answers: list[bytes], seen: list[bytes]):
    def loop():
        conn, _ = server.accept()
        with conn:
            for answer in answers:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                seen.append(head + b"\r\n\r\n" + body)
                conn.sendall(answer)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_requests_keep_one_connection_and_read_both_body_framings(sock_path):
    path, server = sock_path
    seen: list[bytes] = []
    thread = _serve(server, [
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        b'{"Id":"ab"}',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'6\r\n{"Exit\r\nf\r\nCode":3,"Runnin\r\n9\r\ng":false}\r\n0\r\n\r\n',
    ], seen)
    conn = restexec.Connection(str(path))
    try:
        assert conn.request("POST", "/containers/c/exec", {"Cmd": ["sh", "-c", "a \"b\""]}) == \
            (201, {"Id": "ab"})
        assert conn.exit_code("ab") == 3
    finally:
        conn.close()
    thread.join(5)
    assert seen[0].startswith(b"POST /v4.0.0/libpod/containers/c/exec HTTP/1.1\r\n")
    assert seen[0].endswith(b'{"Cmd": ["sh", "-c", "a \\"b\\""]}')  # JSON, one value one item
    assert seen[1].startswith(b"GET /v4.0.0/libpod/exec/ab/json HTTP/1.1\r\n")


def test_a_refused_exec_is_none_so_podman_exec_serves(sock_path):
    path, server = sock_path
    body = b'{"cause":"no such container","response":404}'
    thread = _serve(server, [b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body)], [])
    conn = restexec.Connection(str(path))
    try:
        assert conn.start("gone", ["true"], workdir="/workspace", env={}, stdin=False) is None
    finally:
        conn.close()
    thread.join(5)
