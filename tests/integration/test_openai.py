"""The OpenAI-compatible endpoints, driven by the official `openai` client."""

from __future__ import annotations

import base64
import hashlib
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.cluster import MODES, start_platform
from tests.integration.harness import MODELS, Server

LLM = "admin/openai-llm"  # declares `openai.chat` with a messages input; reports token counts
PLAIN = "admin/openai-plain"  # prompt: str → iterator of strings, no declaration
EMBED = "admin/openai-embed"  # declares `openai.embeddings`
NOT_OPTED_IN = "admin/tokens"


@pytest.fixture(scope="module", params=MODES)
def srv(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    shared_envs_dir: Path,
) -> Iterator[Server]:
    """Embedded, and in `make test-cluster` 2 API replicas + 2 workers behind a balancer."""
    root = tmp_path_factory.mktemp("openai")
    server = start_platform(request.param, root, shared_envs_dir, {})
    server.versions = {  # type: ignore[attr-defined]
        name: server.push(name, f"admin/{name}")
        for name in ("openai-llm", "openai-plain", "openai-embed", "tokens")
    }
    yield server
    server.stop()


def client(srv: Server, token: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=token or srv.token, base_url=f"{srv.url}/openai/v1", max_retries=0, timeout=120
    )


def prediction(srv: Server, prediction_id: str) -> dict[str, object]:
    with srv.http() as http:
        response = http.get(f"/v1/predictions/{prediction_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_status(srv: Server, prediction_id: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = prediction(srv, prediction_id)
        if found["status"] in ("succeeded", "failed", "canceled"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"{prediction_id} did not finish")


def test_chat_completion_is_a_metered_prediction(srv: Server) -> None:
    answer = client(srv).chat.completions.create(
        model=LLM,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
        ],
        max_tokens=10,
        temperature=0.5,
        seed=3,
    )
    assert answer.object == "chat.completion"
    assert answer.model == LLM
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "You said: hello there"
    assert answer.choices[0].finish_reason == "stop"
    # The model's reported counts: 4 words in, 4 tokens out.
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (4, 4)
    assert answer.usage.total_tokens == 8
    prediction_id = answer.id.removeprefix("chatcmpl-")
    stored = wait_status(srv, prediction_id)
    assert stored["source"] == "openai" and stored["status"] == "succeeded"
    assert stored["input"]["max_tokens"] == 10 and stored["input"]["seed"] == 3  # type: ignore[index]
    assert isinstance(stored["cost_usd"], float) and stored["cost_usd"] > 0
    with srv.http() as http:
        listed = http.get("/v1/predictions", params={"source": "openai"}).json()["results"]
    assert prediction_id in {p["id"] for p in listed}
    assert all(p["source"] == "openai" and "cost_usd" in p for p in listed)


def test_stream_arrives_while_the_prediction_runs(srv: Server) -> None:
    words = "one two three four five six seven eight nine ten"
    stream = client(srv).chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": words}],
        stream=True,
        stream_options={"include_usage": True},
    )
    began = time.monotonic()
    pieces: list[str] = []
    arrivals: list[float] = []
    status_at_first = None
    finish = None
    usage = None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                if status_at_first is None:
                    found = prediction(srv, chunk.id.removeprefix("chatcmpl-"))
                    status_at_first = found["status"]
                pieces.append(choice.delta.content)
                arrivals.append(time.monotonic() - began)
            finish = choice.finish_reason or finish
    assert "".join(pieces) == f"You said: {words}"
    assert status_at_first == "processing", "the first chunk came only after the prediction ended"
    assert len(pieces) == 12 and arrivals[-1] - arrivals[0] > 1.5  # 0.25 s apart, not at once
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 12


def test_raw_stream_ends_with_done(srv: Server) -> None:
    body = {"model": PLAIN, "messages": [{"role": "user", "content": "a b"}], "stream": True}
    with (
        srv.http() as http,
        http.stream("POST", "/openai/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


def test_stop_sequence_ends_the_answer(srv: Server) -> None:
    answer = client(srv).chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "one two three four five"}],
        stop=[" four", "zzz"],
    )
    assert answer.choices[0].message.content == "You said: one two three"
    assert answer.choices[0].finish_reason == "stop"
    # Nothing more is read, so the prediction is canceled rather than left to run.
    stored = wait_status(srv, answer.id.removeprefix("chatcmpl-"))
    assert stored["status"] == "canceled"


def test_max_tokens_gives_finish_reason_length(srv: Server) -> None:
    answer = client(srv).chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "one two three four"}],
        max_completion_tokens=3,
    )
    assert answer.choices[0].message.content == "You said: one"
    assert answer.choices[0].finish_reason == "length"


def test_plain_prompt_model_works_without_a_declaration(srv: Server) -> None:
    answer = client(srv).chat.completions.create(
        model=PLAIN, messages=[{"role": "user", "content": "hi there"}]
    )
    assert answer.choices[0].message.content == "echo: hi there"
    assert answer.usage is not None  # no counts reported: about four characters per token
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 4)
    completion = client(srv).completions.create(model=PLAIN, prompt="a b c", max_tokens=3)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "echo: a b"
    assert completion.choices[0].finish_reason == "length"
    streamed = client(srv).completions.create(model=LLM, prompt="x y", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "You said: x y"


def expected_vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 127.5 - 1, 6) for b in digest[:8]]


def test_embeddings_float_and_base64(srv: Server) -> None:
    texts = ["first text", "second text"]
    floats = client(srv).embeddings.create(model=EMBED, input=texts, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1]
    assert [d.embedding for d in floats.data] == [expected_vector(t) for t in texts]
    assert floats.usage.prompt_tokens == 6 and floats.usage.total_tokens == 6  # 21 chars / 4
    # The client asks for base64 by default and decodes it.
    decoded = client(srv).embeddings.create(model=EMBED, input="first text")
    assert decoded.data[0].embedding == pytest.approx(expected_vector("first text"), abs=1e-6)
    with srv.http() as http:
        raw = http.post(
            "/openai/v1/embeddings",
            json={"model": EMBED, "input": texts, "encoding_format": "base64"},
        )
    assert raw.status_code == 200
    packed = base64.b64decode(raw.json()["data"][1]["embedding"])
    assert struct.unpack("<8f", packed) == pytest.approx(expected_vector("second text"), abs=1e-6)
    stored = prediction(srv, raw.headers["x-prediction-id"])
    assert stored["source"] == "openai" and isinstance(stored["cost_usd"], float)


def test_models_lists_what_the_caller_may_use(srv: Server) -> None:
    ids = {m.id for m in client(srv).models.list()}
    assert {LLM, PLAIN, EMBED} <= ids
    assert NOT_OPTED_IN not in ids
    assert client(srv).models.retrieve(EMBED).owned_by == "admin"
    # Another user does not see admin's private models.
    assert srv.cli("users", "create", "bob").returncode == 0
    made = srv.cli("tokens", "create", "--user", "bob")
    assert made.returncode == 0, made.stderr
    theirs = {m.id for m in client(srv, made.stdout.strip()).models.list()}
    assert not {LLM, PLAIN, EMBED} & theirs


def test_versions_show_their_mapping(srv: Server) -> None:
    with srv.http() as http:
        declared = http.get(f"/v1/models/{LLM}").json()["latest_version"]["openai"]
        default = http.get(f"/v1/models/{PLAIN}").json()["latest_version"]["openai"]
        none = http.get(f"/v1/models/{NOT_OPTED_IN}").json()["latest_version"]["openai"]
    assert declared["declared"] is True and declared["chat"]["messages"] == "messages"
    assert default == {
        "declared": False,
        "chat": {"prompt": "prompt", "max_tokens": "max_new_tokens"},
    }
    assert none is None


def test_a_model_that_did_not_opt_in_is_not_found(srv: Server) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(srv).chat.completions.create(
            model=NOT_OPTED_IN, messages=[{"role": "user", "content": "hi"}]
        )
    assert "has not opted in" in str(caught.value)
    with pytest.raises(openai.NotFoundError):
        client(srv).embeddings.create(model=LLM, input="x")  # a chat model: no embeddings
    with pytest.raises(openai.NotFoundError) as missing:
        client(srv).chat.completions.create(
            model="admin/nothing-here", messages=[{"role": "user", "content": "hi"}]
        )
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"temperature": 7}, "temperature"),
        ({"n": 2}, "n"),
        ({"max_tokens": 100}, "max_tokens"),  # the model's own limit (le=64)
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ],
)
def test_a_bad_parameter_is_named(srv: Server, params: dict[str, object], named: str) -> None:
    request: dict[str, object] = {"model": LLM, "messages": [{"role": "user", "content": "hi"}]}
    request.update(params)
    with pytest.raises(openai.BadRequestError) as caught:
        client(srv).chat.completions.create(**request)  # type: ignore[call-overload]
    assert caught.value.param == named
    assert named.split("[")[0] in caught.value.message
    assert caught.value.type == "invalid_request_error"


def test_a_wrong_token_is_an_authentication_error(srv: Server) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(srv, "my_not-a-token").models.list()


def test_client_disconnect_cancels_the_prediction(srv: Server) -> None:
    body = {
        "model": LLM,
        "messages": [{"role": "user", "content": " ".join(["word"] * 40)}],
        "stream": True,
    }
    with (
        srv.http() as http,
        http.stream("POST", "/openai/v1/chat/completions", json=body) as response,
    ):
        prediction_id = response.headers["x-prediction-id"]
        for line in response.iter_lines():
            if '"content":"You"' in line:
                break
    stored = wait_status(srv, prediction_id, timeout=30)
    assert stored["status"] == "canceled"


def test_a_malformed_declaration_fails_the_push(srv: Server, tmp_path: Path) -> None:
    model = tmp_path / "bad-openai"
    shutil.copytree(MODELS / "openai-llm", model)
    config = model / "cog.yaml"
    config.write_text(config.read_text().replace("seed: seed", "seed: no_such_input"))
    result = srv.cli("push", str(model), "admin/bad-openai")
    assert result.returncode != 0
    assert "`openai.chat.seed` names the input `no_such_input`" in result.stdout + result.stderr


def test_errors_have_openai_shape(srv: Server) -> None:
    with httpx.Client(base_url=srv.url) as http:
        response = http.post("/openai/v1/chat/completions", json={})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}


def test_openapi_document_leaves_the_openai_routes_to_openai_reference(srv: Server) -> None:
    paths = httpx.get(f"{srv.url}/openapi.json").json()["paths"]
    assert "/v1/predictions" in paths
    assert not [path for path in paths if path.startswith("/openai/")]


def test_calls_count_against_the_create_rate_limit(server_factory: Callable[..., Server]) -> None:
    limited = server_factory(MODELYARD_RATE_LIMIT_CREATE="2/min").start()
    limited.push("openai-plain", PLAIN)
    c = client(limited)
    chat = {"model": PLAIN, "messages": [{"role": "user", "content": "x"}]}
    c.chat.completions.create(**chat)  # type: ignore[call-overload]
    c.completions.create(model=PLAIN, prompt="y")
    with pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(**chat)  # type: ignore[call-overload]
    assert caught.value.code == "rate_limit_exceeded"
    assert int(caught.value.response.headers["retry-after"]) > 0
    c.models.list()  # other requests have their own bucket


def test_a_version_or_a_deployment_can_be_named(srv: Server) -> None:
    version = srv.versions["openai-llm"]  # type: ignore[attr-defined]
    messages = [{"role": "user", "content": "pinned"}]
    answer = client(srv).chat.completions.create(model=f"{LLM}:{version}", messages=messages)
    assert answer.choices[0].message.content == "You said: pinned"
    assert prediction(srv, answer.id.removeprefix("chatcmpl-"))["version"] == version
    body = {
        "name": "chat",
        "model": LLM,
        "version": version,
        "hardware": "cpu",
        "min_instances": 0,
        "max_instances": 1,
    }
    with srv.http() as http:
        assert http.post("/v1/deployments", json=body).status_code == 200
    assert "deployment:admin/chat" in {m.id for m in client(srv).models.list()}
    answer = client(srv).chat.completions.create(model="deployment:admin/chat", messages=messages)
    assert answer.choices[0].message.content == "You said: pinned"
    stored = prediction(srv, answer.id.removeprefix("chatcmpl-"))
    assert stored["deployment"] == "admin/chat" and stored["source"] == "openai"
    with pytest.raises(openai.NotFoundError):
        client(srv).chat.completions.create(model="deployment:admin/none", messages=messages)


def test_a_failing_model_is_a_server_error(srv: Server) -> None:
    messages = [{"role": "user", "content": "fail"}]
    with pytest.raises(openai.InternalServerError) as caught:
        client(srv).chat.completions.create(model=LLM, messages=messages)
    assert "asked to fail" in caught.value.message
    assert caught.value.type == "server_error"
    stream = client(srv).chat.completions.create(model=LLM, messages=messages, stream=True)
    with pytest.raises(openai.APIError, match="asked to fail"):
        for _chunk in stream:
            pass


def test_embeddings_refuse_token_arrays(srv: Server) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(srv).embeddings.create(model=EMBED, input=[[1, 2, 3]])
    assert caught.value.param == "input"


def test_a_waiting_client_that_leaves_cancels_the_prediction(srv: Server) -> None:
    body = {"model": LLM, "messages": [{"role": "user", "content": " ".join(["w"] * 40)}]}
    with srv.http() as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post("/openai/v1/chat/completions", json=body, timeout=2)
        newest = http.get("/v1/predictions", params={"source": "openai"}).json()["results"][0]
    assert " w w w " in newest["input"]["messages"]  # this call's prediction
    assert wait_status(srv, newest["id"], timeout=30)["status"] == "canceled"
