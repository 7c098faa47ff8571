"""The official openai client, driven by the end-to-end tests: one chat completion, printed as JSON.

    python openai_client.py --base-url URL --model triage --message "hi" [--stream] [--extra-body JSON]

Prints {"status", "model", "content", "headers", "chunks": [{"received_at", "stub_sent_at", "model",
"content"}], "triage", "error"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import openai


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
    kwargs = {"model": a.model, "messages": [{"role": "user", "content": a.message}]}
    if a.extra_body:
        kwargs["extra_body"] = json.loads(a.extra_body)
    out: dict = {"status": None, "model": None, "content": None, "headers": {}, "chunks": [], "triage": None, "error": None}
    try:
        if a.stream:
            raw = client.chat.completions.with_raw_response.create(stream=True, **kwargs)
            out["status"] = raw.status_code
            out["headers"] = dict(raw.headers)
            text = ""
            for chunk in raw.parse():
                received = time.time()
                extra = chunk.model_extra or {}
                piece = chunk.choices[0].delta.content if chunk.choices and chunk.choices[0].delta else None
                out["chunks"].append(
                    {"received_at": received, "stub_sent_at": extra.get("stub_sent_at"), "model": chunk.model, "content": piece}
                )
                text += piece or ""
                out["model"] = chunk.model
            out["content"] = text
        else:
            raw = client.chat.completions.with_raw_response.create(**kwargs)
            out["status"] = raw.status_code
            out["headers"] = dict(raw.headers)
            completion = raw.parse()
            out["model"] = completion.model
            out["content"] = completion.choices[0].message.content
            out["triage"] = (completion.model_extra or {}).get("triage")
    except openai.APIStatusError as e:
        out["status"] = e.status_code
        out["headers"] = dict(e.response.headers)
        try:
            out["error"] = e.response.json()
        except Exception:
            out["error"] = {"raw": e.response.text}
    except openai.APIConnectionError as e:
        out["error"] = {"connection": type(e).__name__}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
