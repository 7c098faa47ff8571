"""A stand-in for the vendors in end-to-end tests: an OpenAI-compatible chat completions server on loopback.

Every provider of a test lives under its own prefix: ``http://127.0.0.1:PORT/<tag>/v1/chat/completions``.
It records which ``model`` each request asked for (``GET /_requests``), answers ``answer from <model>``
(streamed as several chunks, ``--chunk-delay`` apart; the record lists when each was sent), and can be told
to fail: ``POST /_control {"fail": {"<tag>": 503}, "hang": ["<tag>"]}``. A request with ``tools`` whose
last message is not a tool result is answered with a call of its first tool (id ``call_<tag>_<n>``,
streamed as tool-call deltas); one whose last message is a tool result is answered
``answer from <model> with <result>``.

Standard library only. Usage: ``python stub_provider.py --port-file F`` (writes the port it bound).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
REQUESTS: list[dict] = []
CONTROL: dict = {"fail": {}, "hang": []}
ARGS = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the client's
    # delayed ACK (40 ms), which real providers' front ends do not make their clients wait for.
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet
        pass

    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                self._json(200, list(REQUESTS))
        elif self.path == "/_health":
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": {"message": "no such path", "type": "not_found"}})

    def do_POST(self):
        if self.path == "/_control":
            body = self._body()
            with LOCK:
                CONTROL["fail"] = body.get("fail", {})
                CONTROL["hang"] = body.get("hang", [])
                if body.get("reset"):
                    REQUESTS.clear()
            return self._json(200, CONTROL)
        parts = self.path.strip("/").split("/")
        if len(parts) != 4 or parts[1:] != ["v1", "chat", "completions"]:
            return self._json(404, {"error": {"message": "no such path", "type": "not_found"}})
        tag = parts[0]
        body = self._body()
        model = body.get("model")
        stream = bool(body.get("stream"))
        record = {
                    "tag": tag,
                    "model": model,
                    "stream": stream,
                    "authorization": self.headers.get("authorization"),
                    "has_triage_field": "triage" in body,
                    "messages": body.get("messages"),
                    "tools": body.get("tools"),
                    "tool_choice": body.get("tool_choice"),
                    "response_format": body.get("response_format"),
                    "at": time.time(),
                    "chunks_sent_at": [],
                }
        with LOCK:
            REQUESTS.append(record)
            fail = CONTROL["fail"].get(tag)
            hang = tag in CONTROL["hang"]
        if hang:
            time.sleep(30)
            return
        if fail:
            # A provider error that quotes the key it got, as some vendors' 401s do.
            return self._json(
                int(fail),
                {"error": {"message": f"stub {tag} failing on purpose (key {self.headers.get('authorization')})", "type": "server_error"}},
            )
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            text = f"answer from {model} with {last.get('content')}"
        elif body.get("tools"):
            with LOCK:
                n = len(REQUESTS)
            tool = body["tools"][0].get("function", {}).get("name", "tool")
            return self._tool_call(f"call_{tag}_{n}", tool, model, stream, record)
        else:
            text = f"answer from {model}"
        if not stream:
            return self._json(
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                },
            )
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        words = text.split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        for i, piece in enumerate(pieces):
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "stub_sent_at": time.time(),
                "choices": [{"index": 0, "delta": {"content": piece} if i else {"role": "assistant", "content": piece}, "finish_reason": None}],
            }
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode(), record)
            time.sleep(ARGS.chunk_delay)
        last = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "stub_sent_at": time.time(),
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        self._chunk(f"data: {json.dumps(last)}\n\n".encode(), record)
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _tool_call(self, call_id: str, tool: str, model, stream: bool, record: dict) -> None:
        arguments = json.dumps({"city": "Paris"})
        if not stream:
            return self._json(
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": None,
                                "tool_calls": [
                                    {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}
                                ],
                            },
                            "finish_reason": "tool_calls",
                        }
                    ],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30},
                },
            )
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        # As OpenAI streams a call: the id and name first, then the arguments in pieces.
        half = len(arguments) // 2
        deltas = [
            {"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": tool, "arguments": ""}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
        ]
        for i, delta in enumerate(deltas + [{}]):
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "stub_sent_at": time.time(),
                "choices": [{"index": 0, "delta": delta, "finish_reason": "tool_calls" if i == len(deltas) else None}],
            }
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode(), record)
            time.sleep(ARGS.chunk_delay)
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes, record: dict | None = None) -> None:
        if record is not None:
            with LOCK:
                record["chunks_sent_at"].append(time.time())
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def main() -> None:
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--chunk-delay", type=float, default=0.15)
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os

    os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
