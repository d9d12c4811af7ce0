"""An attacker's model: it tries to reach what a sandboxed model must never see."""

import json
import os
import socket

from cog import BaseRunner, Input


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return "READ " + handle.read(64).hex()
    except OSError as exc:
        return f"refused {type(exc).__name__}"


def _connect(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return "CONNECTED"
    except OSError as exc:
        return f"refused {type(exc).__name__}"


def _write(path: str) -> str:
    try:
        with open(path, "w") as handle:
            handle.write("planted")
        return "WROTE"
    except OSError as exc:
        return f"refused {type(exc).__name__}"


class Runner(BaseRunner):
    def run(
        self,
        paths: str = Input(default="", description="Comma-separated host paths to read"),
        ports: str = Input(default="", description="Comma-separated loopback ports to dial"),
        plant: str = Input(default="", description="Comma-separated paths to write"),
    ) -> str:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        report = {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "groups": os.getgroups(),
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "pids": len(pids),
            "reads": {p: _read(p) for p in paths.split(",") if p},
            "dials": {p: _connect(int(p)) for p in ports.split(",") if p},
            "writes": {p: _write(p) for p in plant.split(",") if p},
            "environs": {pid: _read(f"/proc/{pid}/environ") for pid in pids},
        }
        return json.dumps(report)
