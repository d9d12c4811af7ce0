"""Dependencies point one way: routes → services → domain parts → core, store, queue, ..."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "modelyard"

# What each part may import from modelyard (besides itself, `settings` and the package root).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "queue": {"core"},
    "events": {"core"},
    "files": {"core"},
    "webhooks": {"core", "files", "store"},
    "sandbox": set(),
    "builder": {"core", "sandbox"},
    "accounts": {"core", "store", "webhooks"},
    "runtime": {"core", "queue", "events", "files", "sandbox"},
    "billing": {"core", "store"},
    "services": {
        "core",
        "store",
        "queue",
        "events",
        "files",
        "builder",
        "runtime",
        "accounts",
        "webhooks",
        "billing",
        "sandbox",
    },
    "api": {
        "core",
        "services",
        "accounts",
        "files",
        "events",
        "store",
        "runtime",
        "webhooks",
        "billing",
        "web",
    },
    # The app factory (api/app.py) mounts the pages, so web must never import api back.
    "web": {"core", "services", "accounts"},
    "cli": {
        "core",
        "services",
        "api",
        "accounts",
        "store",
        "builder",
        "runtime",
        "billing",
        "sandbox",
    },
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    parts: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            bits = name.split(".")
            if bits[0] == "modelyard" and len(bits) > 1:
                parts.add(bits[1])
    return parts


def test_no_wrong_way_imports() -> None:
    wrong = []
    for part, allowed in ALLOWED.items():
        folder = PACKAGE / part
        for path in folder.rglob("*.py"):
            for imported in imports_of(path) - allowed - {part, "settings"}:
                if (PACKAGE / imported).is_dir():
                    wrong.append(f"{path.relative_to(PACKAGE)} imports modelyard.{imported}")
    assert not wrong, "\n".join(wrong)
