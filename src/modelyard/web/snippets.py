"""The API tab: copyable code that runs a model on this server with each official client."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.core.openai_mapping import effective_mapping
from modelyard.web.forms import FormField


@dataclass(frozen=True)
class Snippet:
    title: str
    language: str
    code: str


def example_input(specs: list[FormField], example: dict[str, Any] | None) -> dict[str, Any]:
    """The input the snippets send: the default example's, else required fields and defaults."""
    if example:
        return {k: v for k, v in example.items() if not _is_data_url(v)} or dict(example)
    result: dict[str, Any] = {}
    for spec in specs:
        if spec.default is not None:
            result[spec.name] = spec.default
        elif spec.required:
            result[spec.name] = _placeholder(spec)
    return result


def _is_data_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("data:")


def _placeholder(spec: FormField) -> Any:
    if spec.widget == "file":
        return "https://example.com/input.jpg"
    if spec.choices:
        return spec.choices[0]
    return {"integer": 1, "number": 1.0, "boolean": True}.get(spec.type, "...")


def supports_chat(version: Mapping[str, Any] | None) -> bool:
    """True when the version is served by the OpenAI-compatible chat endpoint."""
    if version is None:
        return False
    mapping = effective_mapping(version.get("config"), version.get("openapi_schema") or {})
    return mapping is not None and mapping.chat is not None


def snippets(base: str, model: str, inputs: dict[str, Any], *, openai: bool) -> list[Snippet]:
    py_input = json.dumps(inputs, indent=4).replace("\n", "\n    ")
    js_input = json.dumps(inputs, indent=2).replace("\n", "\n  ")
    body = json.dumps({"input": inputs})
    result = [
        Snippet(
            "Python",
            "python",
            "import replicate\n\n"
            f'client = replicate.Client(base_url="{base}")  # token from REPLICATE_API_TOKEN\n'
            f"output = client.run(\n"
            f'    "{model}",\n'
            f"    input={py_input},\n"
            ")\n"
            "print(output)\n",
        ),
        Snippet(
            "JavaScript",
            "javascript",
            'import Replicate from "replicate";\n\n'
            f'const replicate = new Replicate({{ baseUrl: "{base}/v1" }});\n'
            f'const output = await replicate.run("{model}", {{\n'
            f"  input: {js_input},\n"
            "});\n"
            "console.log(output);\n",
        ),
        Snippet(
            "curl",
            "shell",
            f"curl -s -X POST {base}/v1/models/{model}/predictions \\\n"
            '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
            '  -H "Content-Type: application/json" \\\n'
            '  -H "Prefer: wait" \\\n'
            f"  -d '{_shell_quote(body)}'\n",
        ),
    ]
    if openai:
        prompt = str(inputs.get("prompt", "Hello!"))
        result.append(
            Snippet(
                "OpenAI client",
                "python",
                "from openai import OpenAI\n\n"
                f'client = OpenAI(base_url="{base}/openai/v1", api_key="<your modelyard token>")\n'
                "reply = client.chat.completions.create(\n"
                f'    model="{model}",\n'
                f'    messages=[{{"role": "user", "content": {json.dumps(prompt)}}}],\n'
                ")\n"
                "print(reply.choices[0].message.content)\n",
            )
        )
    return result


def _shell_quote(text: str) -> str:
    return text.replace("'", "'\\''")
