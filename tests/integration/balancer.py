"""A TCP load balancer for cluster tests: each new connection goes to the next backend in turn
(skipping one that refuses connections), as an L4 balancer in front of API replicas does."""

from __future__ import annotations

import contextlib
import itertools
import socket
import socketserver
import threading
from collections.abc import Callable

CHUNK = 65536


class Balancer:
    """Listens on 127.0.0.1:`port`; `backends()` gives the (host, port)s to spread over."""

    def __init__(self, backends: Callable[[], list[tuple[str, int]]]) -> None:
        self.backends = backends
        self._turn = itertools.count()
        self.connections: list[int] = []  # backend port of every connection, in order
        balancer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                balancer._relay(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Balancer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _connect(self) -> socket.socket | None:
        backends = self.backends()
        for _ in range(len(backends)):
            address = backends[next(self._turn) % len(backends)]
            try:
                upstream = socket.create_connection(address, timeout=5)
            except OSError:
                continue  # a replica that is down: the next one
            upstream.settimeout(None)
            self.connections.append(address[1])
            return upstream
        return None

    def _relay(self, client: socket.socket) -> None:
        upstream = self._connect()
        if upstream is None:
            client.close()
            return
        pump = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        pump.start()
        _pump(client, upstream)
        pump.join()
        upstream.close()
        client.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)
