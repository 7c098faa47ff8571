"""The official openai client running a whole tool-calling flow, driven by the end-to-end tests: the
request with a tool, the model's tool call, the tool's result sent back, and the final answer.

    python openai_tools.py --base-url URL --model triage --message "..." [--stream] [--extra-body JSON]

Prints {"first": {"status", "model", "tool_calls": [{"id", "name", "arguments"}], "triage", "headers",
"chunks"}, "final": {"status", "model", "content", "triage", "headers"}, "error"}.
"""

from __future__ import annotations

import argparse
import json
import sys

import openai

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def call(client, stream: bool, **kwargs) -> dict:
    """One completion: its model, content, tool calls (assembled from deltas when streamed), headers."""
    out: dict = {"status": None, "model": None, "content": None, "tool_calls": [], "triage": None, "headers": {}, "chunks": 0}
    if stream:
        raw = client.chat.completions.with_raw_response.create(stream=True, **kwargs)
        out["status"] = raw.status_code
        out["headers"] = dict(raw.headers)
        calls: dict[int, dict] = {}
        text = ""
        for chunk in raw.parse():
            out["chunks"] += 1
            out["model"] = chunk.model
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            text += delta.content or ""
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
        out["content"] = text or None
        out["tool_calls"] = [calls[k] for k in sorted(calls)]
    else:
        raw = client.chat.completions.with_raw_response.create(**kwargs)
        out["status"] = raw.status_code
        out["headers"] = dict(raw.headers)
        completion = raw.parse()
        out["model"] = completion.model
        message = completion.choices[0].message
        out["content"] = message.content
        out["tool_calls"] = [
            {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
            for tc in message.tool_calls or []
        ]
        out["triage"] = (completion.model_extra or {}).get("triage")
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--message", required=True)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--extra-body", default=None)
    p.add_argument("--api-key", default="sk-client-side-unused")
    a = p.parse_args()
    client = openai.OpenAI(base_url=a.base_url, api_key=a.api_key, max_retries=0, timeout=60)
    extra = {"extra_body": json.loads(a.extra_body)} if a.extra_body else {}
    messages = [{"role": "user", "content": a.message}]
    out: dict = {"first": None, "final": None, "error": None}
    try:
        first = call(client, a.stream, model=a.model, messages=messages, tools=[WEATHER], **extra)
        out["first"] = first
        if first["tool_calls"]:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                        for c in first["tool_calls"]
                    ],
                }
            )
            for c in first["tool_calls"]:
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": "sunny, 21 C"})
            out["final"] = call(client, a.stream, model=a.model, messages=messages, tools=[WEATHER], **extra)
    except openai.APIStatusError as e:
        try:
            body = e.response.json()
        except Exception:
            body = {"raw": e.response.text}
        out["error"] = {"status": e.status_code, "body": body}
    except openai.APIConnectionError as e:
        out["error"] = {"connection": type(e).__name__}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
