"""Unix sockets at paths of any length."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def listen_unix(path: Path, *, mode: int = 0o600) -> socket.socket:
    """A listening Unix socket at `path`, replacing a stale one, with permissions `mode`.

    A socket path is limited to 107 bytes and data folders can be deeper, so the socket is
    bound through an open handle on its folder (`/proc/self/fd/N/name`).
    """
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        short = f"/proc/self/fd/{folder}/{path.name}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(short)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(short)
            os.chmod(short, mode)
            sock.listen(1024)
        except BaseException:
            sock.close()
            raise
    finally:
        os.close(folder)
    return sock
