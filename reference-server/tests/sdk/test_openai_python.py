"""The official openai Python SDK, unchanged, against the reference server."""
import json

import openai
import pytest
from openai import OpenAI

TOOLS_CHAT = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]
TOOLS_RESPONSES = [{
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False},
    "strict": True,
}]


def test_models_list_and_retrieve(client):
    ids = [m.id for m in client.models.list()]
    assert "ref-chat-1" in ids and any("embed" in i for i in ids)
    assert client.models.retrieve("ref-chat-1").owned_by
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("nope")
    assert e.value.code == "model_not_found"


def test_embeddings_default_base64_and_float_agree(client):
    default = client.embeddings.create(model="ref-embed-1", input=["hello", "world"], dimensions=32)
    floats = client.embeddings.create(model="ref-embed-1", input=["hello", "world"], dimensions=32,
                                      encoding_format="float")
    assert len(default.data) == 2 and len(default.data[0].embedding) == 32
    for a, b in zip(default.data, floats.data):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-7)
    assert default.data[0].embedding != default.data[1].embedding
    assert default.usage.total_tokens == default.usage.prompt_tokens > 0


def test_chat_plain(client):
    c = client.chat.completions.create(model="ref-chat-1", messages=[{"role": "user", "content": "hi"}])
    assert c.choices[0].message.content == "You said: hi"
    assert c.choices[0].finish_reason == "stop"
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens
    assert c._request_id


def test_chat_tools(client):
    c = client.chat.completions.create(
        model="ref-chat-1", tools=TOOLS_CHAT,
        messages=[{"role": "user", "content": "Use get_weather for Rome"}])
    call = c.choices[0].message.tool_calls[0]
    assert c.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"city": "Rome"}
    follow = client.chat.completions.create(
        model="ref-chat-1", tools=TOOLS_CHAT,
        messages=[{"role": "user", "content": "Use get_weather for Rome"},
                  c.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert follow.choices[0].message.content == "The get_weather tool returned: sunny"


def test_chat_stream_with_usage(client):
    chunks = list(client.chat.completions.create(
        model="ref-chat-1", messages=[{"role": "user", "content": "stream please"}],
        stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "You said: stream please"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    with client.chat.completions.stream(model="ref-chat-1",
                                        messages=[{"role": "user", "content": "helper"}]) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == "You said: helper"


def test_chat_structured_output_parse(client):
    from pydantic import BaseModel

    class Person(BaseModel):
        name: str
        age: int

    parsed = client.chat.completions.parse(model="ref-chat-1", response_format=Person,
                                           messages=[{"role": "user", "content": "Describe Ada"}])
    assert isinstance(parsed.choices[0].message.parsed, Person)


def test_responses_plain_chain_retrieve_delete(client):
    r = client.responses.create(model="ref-chat-1", input="hello", instructions="be kind")
    assert r.output_text == "You said: hello"
    assert r.status == "completed"
    r2 = client.responses.create(model="ref-chat-1", input="again", previous_response_id=r.id)
    assert r2.output_text == "You said: again (turn 2 of our conversation)"
    assert client.responses.retrieve(r.id).id == r.id
    items = client.responses.input_items.list(r.id)
    assert items.data[0].type == "message"
    client.responses.delete(r.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_responses_tools(client):
    r = client.responses.create(model="ref-chat-1", input="Call get_weather for Quito", tools=TOOLS_RESPONSES)
    call = r.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Quito"}
    r2 = client.responses.create(model="ref-chat-1", previous_response_id=r.id, tools=TOOLS_RESPONSES,
                                 input=[{"type": "function_call_output", "call_id": call.call_id,
                                         "output": "rainy"}])
    assert r2.output_text == "The get_weather tool returned: rainy"


def test_responses_stream_helper(client):
    with client.responses.stream(model="ref-chat-1", input="stream me") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "You said: stream me"
    raw = list(client.responses.create(model="ref-chat-1", input="raw", stream=True))
    assert [e.sequence_number for e in raw] == list(range(len(raw)))
    assert raw[-1].type == "response.completed"


def test_missing_or_bad_key_raises_authentication_error(base_url, strict_base_url):
    with pytest.raises(openai.AuthenticationError):
        # The SDK will not send an empty key; it lets a caller omit the header explicitly.
        OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0).models.list(
            extra_headers={"Authorization": openai.Omit()})
    with pytest.raises(openai.AuthenticationError) as e:
        OpenAI(base_url=f"{strict_base_url}/v1", api_key="sk-wrong-key-00000", max_retries=0).models.list()
    assert e.value.code == "invalid_api_key"
    ok = OpenAI(base_url=f"{strict_base_url}/v1", api_key="sk-good-key-123456", max_retries=0)
    assert ok.models.list().data


def test_bad_request_raises_with_param(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="ref-embed-1", input="")
    assert e.value.param == "input"


def test_retry_logic_recovers_from_an_injected_429(flaky_base_url):
    import time
    import urllib.request

    client = OpenAI(base_url=f"{flaky_base_url}/v1", api_key="sk-test", max_retries=2)
    first = client.embeddings.with_raw_response.create(model="ref-embed-1", input="one")
    assert first.retries_taken == 0
    started = time.monotonic()
    # Request 2 is refused with 429 (retry-after-ms: 200); the SDK waits and request 3 succeeds.
    second = client.embeddings.with_raw_response.create(model="ref-embed-1", input="two")
    waited = time.monotonic() - started
    assert second.retries_taken == 1
    assert len(second.parse().data[0].embedding) == 1536
    assert waited >= 0.2, "the SDK honoured retry-after-ms"
    metrics = urllib.request.urlopen(f"{flaky_base_url}/metrics").read().decode()
    assert 'injected_faults_total{kind="429"} 1' in metrics
    with pytest.raises(openai.RateLimitError) as e:
        OpenAI(base_url=f"{flaky_base_url}/v1", api_key="sk-test", max_retries=0).embeddings.create(
            model="ref-embed-1", input="four")
    assert e.value.code == "rate_limit_exceeded"
    assert e.value.response.headers["x-refserver-fault"] == "429"
