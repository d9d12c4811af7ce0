"""The first program of a sandboxed instance: starts coglet and relays its sockets.

Runs inside the sandbox (its own network namespace, as the sandbox user) with the version's
interpreter, so it uses the standard library only and stays compatible with Python 3.8+.
The platform reads this file and passes it as `python -c`, with coglet's bootstrap source in
MODELYARD_BOOTSTRAP.

- platform -> coglet: a Unix socket in the instance's private /tmp (reachable only through
  that folder, which belongs to the sandbox user) relayed to coglet's loopback TCP port;
- coglet -> platform: coglet's `--upload-url` points at a loopback port here, relayed to the
  platform's upload socket mounted into the sandbox.

The relay exits with coglet; the sandbox's PID namespace then ends every process left.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable

Connect = Callable[[], Awaitable[socket.socket]]

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


async def _pump(
    loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket, quickack: int | None
) -> None:
    try:
        while True:
            if quickack is not None:
                # coglet does not set TCP_NODELAY: acknowledge at once, or each small SSE
                # event waits for Linux's delayed ACK (40 ms).
                src.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            data = await loop.sock_recv(src, 262144)
            if not data:
                break
            await loop.sock_sendall(dst, data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


async def _splice(loop: asyncio.AbstractEventLoop, client: socket.socket, connect: Connect) -> None:
    upstream = None
    try:
        upstream = await connect()
        tcp_client = client.family != socket.AF_UNIX
        tcp_upstream = upstream.family != socket.AF_UNIX
        await asyncio.gather(
            _pump(loop, client, upstream, _QUICKACK if tcp_client else None),
            _pump(loop, upstream, client, _QUICKACK if tcp_upstream else None),
        )
    except OSError:
        pass
    finally:
        client.close()
        if upstream is not None:
            upstream.close()


async def _serve(
    loop: asyncio.AbstractEventLoop, listener: socket.socket, connect: Connect
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    while True:
        client, _ = await loop.sock_accept(listener)
        client.setblocking(False)
        if client.family != socket.AF_UNIX:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = loop.create_task(_splice(loop, client, connect))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def _tcp_connector(loop: asyncio.AbstractEventLoop, port: int) -> Connect:
    async def connect() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", port))
        except OSError:
            sock.close()
            raise
        return sock

    return connect


def _unix_connector(loop: asyncio.AbstractEventLoop, path: str) -> Connect:
    async def connect() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, path)
        except OSError:
            sock.close()
            raise
        return sock

    return connect


def _listen_unix(path: str) -> socket.socket:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # only the sandbox user (and root) may connect
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _listen_tcp(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def main() -> None:
    bootstrap = os.environ.pop("MODELYARD_BOOTSTRAP")
    coglet_port = int(os.environ.pop("MODELYARD_COGLET_PORT"))
    instance_socket = os.environ.pop("MODELYARD_INSTANCE_SOCKET")
    upload_port = os.environ.pop("MODELYARD_UPLOAD_PORT", "")
    upload_socket = os.environ.pop("MODELYARD_UPLOAD_SOCKET", "")
    env = dict(os.environ, PORT=str(coglet_port), MODELYARD_PARENT_PID=str(os.getpid()))
    listeners: list[tuple[socket.socket, str]] = []
    if upload_port and upload_socket:
        listeners.append((_listen_tcp(int(upload_port)), "upload"))
    child = subprocess.Popen(
        [sys.executable, "-c", bootstrap, "--host", "127.0.0.1"], env=env, stdin=subprocess.DEVNULL
    )
    listeners.append((_listen_unix(instance_socket), "coglet"))

    def forward(signum: int, _frame: object) -> None:
        try:
            child.send_signal(signum)
        except OSError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    def reap() -> None:
        code = child.wait()
        sys.stdout.flush()
        os._exit(code if code >= 0 else 128 - code)

    threading.Thread(target=reap, daemon=True).start()
    loop = asyncio.new_event_loop()
    for listener, kind in listeners:
        if kind == "upload":
            connect = _unix_connector(loop, upload_socket)
        else:
            connect = _tcp_connector(loop, coglet_port)
        loop.create_task(_serve(loop, listener, connect))
    loop.run_forever()


if __name__ == "__main__":
    main()
