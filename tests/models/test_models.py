"""Model backends against the loopback FakeOpenAIServer: wire format, usage, retries, errors, load_model."""

from __future__ import annotations

import email.utils
import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from toolfoundry.errors import ModelError, UsageError
from toolfoundry.models import ModelSettings, backoff_delay, load_model, parse_retry_after
from toolfoundry.models.anthropic import AnthropicModel, to_anthropic
from toolfoundry.models.openai import OpenAIModel
from toolfoundry.models.scripted import ScriptedModel
from toolfoundry.models.types import Message, ToolCall
from toolfoundry.testing import FakeOpenAIServer, Reply

HELLO = [Message(role="user", content="hello")]
ADD_TOOL = {"type": "function", "function": {
    "name": "add", "description": "Sum of a and b.",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}


class Sleeps(list[float]):
    """An injected sleep that records the delays asked for and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


M = TypeVar("M")
_OPEN: list[object] = []


def opened(model: M) -> M:
    """Register a model so the test's teardown closes its HTTP client (no socket left to the GC)."""
    _OPEN.append(model)
    return model


@pytest.fixture(autouse=True)
def close_models() -> Iterator[None]:
    yield
    while _OPEN:
        close = getattr(_OPEN.pop(), "close", None)
        if callable(close):
            close()


def openai_model(server: FakeOpenAIServer, sleeps: Sleeps | None = None, **settings: float) -> OpenAIModel:
    return opened(OpenAIModel("gpt-test", base_url=server.base_url, api_key="sk-test",
                              settings=ModelSettings(**settings),  # type: ignore[arg-type]
                              sleep=sleeps if sleeps is not None else Sleeps()))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as s:
        yield s


# ── round trips ──


def test_text_completion_round_trip_reports_usage_and_cost(server: FakeOpenAIServer) -> None:
    server.add(Reply.text("Hi there.", usage=(120, 30)))
    model = openai_model(server, price_per_mtok_in=2.0, price_per_mtok_out=8.0)
    done = model.complete([Message(role="system", content="Be brief."), *HELLO])
    assert done.message == Message(role="assistant", content="Hi there.")
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (120, 30)
    assert done.usage.cost_usd == pytest.approx((120 * 2.0 + 30 * 8.0) / 1e6)
    assert done.finish_reason == "stop"
    assert done.model == "openai:gpt-test"
    assert model.name == "openai:gpt-test"
    assert server.requests == [{"model": "gpt-test", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]}]
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_usage_has_no_cost_when_prices_are_not_configured(server: FakeOpenAIServer) -> None:
    server.add(Reply.text("x", usage=(5, 1)))
    assert openai_model(server).complete(HELLO).usage.cost_usd is None


@pytest.mark.parametrize("raw", ['{"a": 1, "b": 2}', '{"a": 1, "b": ', "not json at all"])
def test_tool_call_arguments_are_returned_exactly_as_the_model_wrote_them(server: FakeOpenAIServer,
                                                                          raw: str) -> None:
    server.add(Reply.raw_tool_call("add", raw))
    done = openai_model(server).complete(HELLO, tools=[ADD_TOOL])
    assert done.message.tool_calls == (ToolCall(id="call_0", name="add", arguments=raw),)
    assert done.message.content == ""
    assert done.finish_reason == "tool_calls"
    assert server.requests[0]["tools"] == [ADD_TOOL]


def test_several_tool_calls_and_text_come_back_in_order(server: FakeOpenAIServer) -> None:
    server.add(Reply.tool_calls_of([("add", {"a": 1}), ("mul", '{"x": 2}')], content="Calling two tools."))
    done = openai_model(server).complete(HELLO)
    assert done.message.content == "Calling two tools."
    assert [(c.name, json.loads(c.arguments)) for c in done.message.tool_calls] == [("add", {"a": 1}),
                                                                                     ("mul", {"x": 2})]


def test_tool_calls_and_results_are_sent_in_the_openai_wire_format(server: FakeOpenAIServer) -> None:
    server.add(Reply.text("3"))
    conversation = [
        Message(role="user", content="add 1 and 2"),
        Message(role="assistant", tool_calls=(ToolCall(id="call_9", name="add", arguments='{"a": 1, "b": 2}'),)),
        Message(role="tool", tool_call_id="call_9", content="3"),
    ]
    openai_model(server).complete(conversation, tools=[ADD_TOOL], max_tokens=50)
    sent = server.requests[0]
    assert sent["messages"] == [
        {"role": "user", "content": "add 1 and 2"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": "3"},
    ]
    assert sent["tools"] == [ADD_TOOL]
    assert sent["max_tokens"] == 50  # a compatible server gets max_tokens; api.openai.com max_completion_tokens


def test_a_tool_message_without_its_call_id_is_a_usage_error(server: FakeOpenAIServer) -> None:
    with pytest.raises(UsageError, match="tool_call_id"):
        openai_model(server).complete([Message(role="tool", content="3")])
    assert server.requests == []


def test_missing_usage_is_estimated_from_the_text(server: FakeOpenAIServer) -> None:
    server.add(Reply.garbage(json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                         "choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"role": "assistant", "content": "a" * 40}}]})))
    done = openai_model(server).complete([Message(role="user", content="b" * 80)])
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (20, 10)


# ── retries ──


def test_429_with_retry_after_is_retried_after_the_advertised_delay(server: FakeOpenAIServer) -> None:
    server.add(Reply.error(429, retry_after=7, message="Rate limit reached"), Reply.text("ok"))
    sleeps = Sleeps()
    done = openai_model(server, sleeps).complete(HELLO)
    assert done.message.content == "ok"
    assert sleeps == [7.0]
    assert len(server.requests) == 2


def test_retry_after_as_an_http_date_is_honoured(server: FakeOpenAIServer) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.add(Reply.error(503, retry_after=when), Reply.text("ok"))
    sleeps = Sleeps()
    openai_model(server, sleeps, backoff_max=100.0).complete(HELLO)
    assert len(sleeps) == 1 and 27.0 <= sleeps[0] <= 30.0


def test_retry_after_is_capped_at_backoff_max(server: FakeOpenAIServer) -> None:
    server.add(Reply.error(429, retry_after=3600), Reply.text("ok"))
    sleeps = Sleeps()
    openai_model(server, sleeps, backoff_max=2.5).complete(HELLO)
    assert sleeps == [2.5]


def test_500s_are_retried_with_growing_jittered_backoff_then_succeed(server: FakeOpenAIServer) -> None:
    server.add(Reply.error(500), Reply.error(502), Reply.error(500, retry_after=99), Reply.text("fine"))
    sleeps = Sleeps()
    done = openai_model(server, sleeps, backoff_base=1.0).complete(HELLO)
    assert done.message.content == "fine"
    assert len(server.requests) == 4
    # Retry-After on a 500 is not honoured (only 429/503); each wait is in [ceiling/2, ceiling]
    for wait, ceiling in zip(sleeps, [1.0, 2.0, 4.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_persistent_500_gives_up_after_max_retries_plus_one_attempts(server: FakeOpenAIServer) -> None:
    server.default = Reply.error(500, message="the GPU is on fire")
    sleeps = Sleeps()
    with pytest.raises(ModelError) as err:
        openai_model(server, sleeps, max_retries=3).complete(HELLO)
    assert str(err.value) == "openai:gpt-test: gave up after 4 attempts: HTTP 500: the GPU is on fire"
    assert len(server.requests) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_client_errors_fail_at_once_with_the_providers_message(server: FakeOpenAIServer,
                                                                     status: int) -> None:
    server.add(Reply.error(status, message="model 'gpt-test' does not support tools"), Reply.text("never"))
    sleeps = Sleeps()
    with pytest.raises(ModelError) as err:
        openai_model(server, sleeps).complete(HELLO)
    assert str(err.value) == f"openai:gpt-test: HTTP {status}: model 'gpt-test' does not support tools"
    assert len(server.requests) == 1 and sleeps == []


def test_a_request_slower_than_the_timeout_is_retried_then_fails(server: FakeOpenAIServer) -> None:
    server.add(Reply.delay(5.0), Reply.delay(5.0))
    sleeps = Sleeps()
    with pytest.raises(ModelError, match=r"gave up after 2 attempts: timed out after 0\.3s"):
        openai_model(server, sleeps, timeout_seconds=0.3, max_retries=1).complete(HELLO)
    assert len(server.requests) == 2 and len(sleeps) == 1


def test_a_timeout_then_a_prompt_answer_succeeds(server: FakeOpenAIServer) -> None:
    server.add(Reply.delay(5.0), Reply.text("made it"))
    assert openai_model(server, timeout_seconds=0.3).complete(HELLO).message.content == "made it"


@pytest.mark.parametrize("garbage", [Reply.garbage(), Reply.garbage("<html>oops</html>", content_type="text/html"),
                                     Reply.garbage('{"choices": []}')])
def test_a_malformed_body_is_retried_then_reported_clearly(server: FakeOpenAIServer, garbage: Reply) -> None:
    server.default = garbage
    with pytest.raises(ModelError, match="gave up after 3 attempts: malformed response: "):
        openai_model(server, max_retries=2).complete(HELLO)
    assert len(server.requests) == 3


def test_a_malformed_body_then_a_good_one_succeeds(server: FakeOpenAIServer) -> None:
    server.add(Reply.garbage(), Reply.text("ok"))
    assert openai_model(server).complete(HELLO).message.content == "ok"


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as s:  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    model = opened(OpenAIModel("m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k",
                               settings=ModelSettings(max_retries=2), sleep=sleeps))
    with pytest.raises(ModelError, match="openai:m: gave up after 3 attempts: connection error"):
        model.complete(HELLO)
    assert len(sleeps) == 2


def test_a_short_retry_after_is_really_waited_end_to_end(server: FakeOpenAIServer) -> None:
    server.add(Reply.error(429, retry_after=1), Reply.text("patience"))
    model = opened(OpenAIModel("gpt-test", base_url=server.base_url, api_key="k", settings=ModelSettings()))
    start = time.monotonic()
    assert model.complete(HELLO).message.content == "patience"
    assert time.monotonic() - start >= 1.0


def test_backoff_and_retry_after_parsing() -> None:
    settings = ModelSettings(backoff_base=0.5, backoff_max=3.0)
    assert [backoff_delay(settings, n, rand=lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(settings, 1, rand=lambda: 0.0) == 0.25
    assert backoff_delay(settings, 1, retry_after=0.0) == 0.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# ── load_model ──


@pytest.mark.parametrize("spec", ["gpt-4.1-mini", "openai:", ""])
def test_a_spec_without_provider_and_name_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError, match="expected PROVIDER:NAME .*openai, anthropic, scripted"):
        load_model(spec, environ={})


def test_an_unknown_provider_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown provider 'mistral'; known providers: openai, anthropic, scripted"):
        load_model("mistral:large", environ={"OPENAI_API_KEY": "k"})


def test_openai_without_a_key_or_base_url_says_which_variable_to_set() -> None:
    with pytest.raises(UsageError, match="set OPENAI_API_KEY"):
        load_model("openai:gpt-4.1-mini", environ={})


def test_openai_with_a_local_base_url_needs_no_key(server: FakeOpenAIServer) -> None:
    server.add(Reply.text("local"))
    model = opened(load_model("openai:llama3", environ={"OPENAI_BASE_URL": server.base_url}))
    assert model.name == "openai:llama3"
    assert model.complete(HELLO).message.content == "local"
    assert server.requests[0]["model"] == "llama3"
    assert server.headers[0]["authorization"].startswith("Bearer ")


def test_load_model_passes_the_settings_through(server: FakeOpenAIServer) -> None:
    server.default = Reply.error(500)
    model = opened(load_model("openai:m", settings=ModelSettings(max_retries=1, backoff_base=0.01),
                       environ={"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k"}))
    with pytest.raises(ModelError, match="gave up after 2 attempts"):
        model.complete(HELLO)


# ── scripted ──


def test_scripted_model_replays_its_file_and_records_what_it_was_sent(tmp_path: Path) -> None:
    script = tmp_path / "demo.json"
    script.write_text(json.dumps([
        "I need a tool.",
        {"content": "", "tool_calls": [{"name": "request_capability", "arguments": {"need": "add"}},
                                       {"name": "add", "arguments": "{broken"}],
         "usage": {"prompt_tokens": 11, "completion_tokens": 22}},
    ]))
    model = load_model(f"scripted:{script}", settings=ModelSettings(price_per_mtok_in=1, price_per_mtok_out=1),
                       environ={})
    assert isinstance(model, ScriptedModel)
    assert model.name == f"scripted:{script}"
    first = model.complete([Message(role="user", content="x" * 40)])
    assert first.message.content == "I need a tool."
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (10, 3)  # estimated: chars / 4
    second = model.complete([Message(role="user", content="go on")], tools=[ADD_TOOL])
    assert [(c.name, c.arguments) for c in second.message.tool_calls] == [
        ("request_capability", '{"need": "add"}'), ("add", "{broken")]
    assert len({c.id for c in second.message.tool_calls}) == 2
    assert second.finish_reason == "tool_calls"
    assert second.usage.cost_usd == pytest.approx(33 / 1e6)
    assert model.received == [[Message(role="user", content="x" * 40)], [Message(role="user", content="go on")]]
    with pytest.raises(ModelError, match="scripted model ran out of responses after 2"):
        model.complete(HELLO)


def test_scripted_model_takes_responses_inline() -> None:
    model = ScriptedModel(["one", {"content": "two"}])
    assert [model.complete(HELLO).message.content for _ in range(2)] == ["one", "two"]
    assert model.remaining == 0 and model.name == "scripted:inline"


@pytest.mark.parametrize(("text", "error"), [
    (None, "not found"), ("{not json", "not readable JSON"), ('{"a": 1}', "JSON list"),
    ("[42]", "response 0: expected a string or an object"), ('[{"tool_calls": [{}]}]', "needs a 'name'")])
def test_a_bad_script_file_is_a_usage_error(tmp_path: Path, text: str | None, error: str) -> None:
    path = tmp_path / "script.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match=error):
        ScriptedModel(path)


# ── anthropic ──


def test_anthropic_without_the_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # what a missing package looks like to import
    with pytest.raises(UsageError, match=r"pip install 'toolfoundry\[anthropic\]'"):
        load_model("anthropic:claude-sonnet-4-5", environ={"ANTHROPIC_API_KEY": "k"})


def test_anthropic_without_a_key_says_which_variable_to_set() -> None:
    with pytest.raises(UsageError, match="set ANTHROPIC_API_KEY"):
        load_model("anthropic:claude-sonnet-4-5", environ={})


def test_messages_map_to_anthropic_system_tool_use_and_tool_result_blocks() -> None:
    system, messages, tools = to_anthropic([
        Message(role="system", content="Be brief."),
        Message(role="user", content="add 1 and 2"),
        Message(role="assistant", content="Sure.",
                tool_calls=(ToolCall(id="t1", name="add", arguments='{"a": 1, "b": 2}'),)),
        Message(role="tool", tool_call_id="t1", content="3"),
        Message(role="user", content="thanks"),
    ], [ADD_TOOL])
    assert system == "Be brief."
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "add 1 and 2"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Sure."},
                                          {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1, "b": 2}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "3"},
                                     {"type": "text", "text": "thanks"}]},
    ]
    assert tools == [{"name": "add", "description": "Sum of a and b.",
                      "input_schema": ADD_TOOL["function"]["parameters"]}]  # type: ignore[index]


def test_malformed_tool_arguments_cannot_be_sent_to_anthropic() -> None:
    bad = Message(role="assistant", tool_calls=(ToolCall(id="t1", name="add", arguments="{oops"),))
    with pytest.raises(UsageError, match="not a JSON object"):
        to_anthropic([bad])


def test_anthropic_round_trip_with_retry_on_the_loopback_server(server: FakeOpenAIServer) -> None:
    pytest.importorskip("anthropic")
    server.add(Reply.error(529, retry_after=3), Reply.tool_call("add", {"a": 1}, content="On it.", usage=(7, 9)))
    sleeps = Sleeps()
    model = opened(AnthropicModel("claude-test", api_key="k", base_url=server.root_url,
                                  settings=ModelSettings(price_per_mtok_in=3, price_per_mtok_out=15), sleep=sleeps))
    done = model.complete([Message(role="system", content="sys"), *HELLO], tools=[ADD_TOOL])
    assert sleeps == [3.0]
    assert done.message.content == "On it."
    assert [(c.name, json.loads(c.arguments)) for c in done.message.tool_calls] == [("add", {"a": 1})]
    assert done.usage.cost_usd == pytest.approx((7 * 3 + 9 * 15) / 1e6)
    assert done.finish_reason == "tool_use"
    assert server.requests[1]["system"] == "sys" and server.requests[1]["max_tokens"] == 4096
    server.default = Reply.error(400, message="bad model")
    with pytest.raises(ModelError, match="anthropic:claude-test: HTTP 400: bad model"):
        model.complete(HELLO)
