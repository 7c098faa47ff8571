"""Proxy overhead on loopback: what `triage serve --proxy` adds over a direct call to the provider.

Starts the stub provider (tests/e2e/stub_provider.py) and `triage serve --proxy` on free 127.0.0.1 ports, with
a copy of the models folder whose enabled providers point at the stub, then times sequential keep-alive
requests (httpx) for the same one-turn chat:
  direct        the stub itself
  pass-through  the proxy with a provider's own name (no routing)
  route         POST /v1/route (the routing decision alone, a new prompt: embedding included)
  route (cached), routed (cached)
                the same prompt again, as a decision and through the proxy with model "triage" (both
                take the embedding from the cache, so they differ by the forwarding alone)
  direct (20 tools), routed (cached, 20 tools)
                the same with 20 tool definitions (the stub answers with a tool call): what reading a
                request's needs and checking every provider's capabilities add
and prints p50/p90 of each and the overheads: pass-through - direct (forwarding alone), routed (cached) -
direct (forwarding plus the decision, less the embedding), and the same for the requests with 20 tools.
Run through scripts/proxy-bench (venv and build first). Loopback only; bounded request counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    n = int(os.environ.get("PROXY_BENCH_REQUESTS", "400"))
    tmp = tempfile.mkdtemp(prefix="proxy-bench-")
    procs = []
    try:
        port_file = os.path.join(tmp, "stub.port")
        procs.append(subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/e2e/stub_provider.py"), "--port-file", port_file, "--chunk-delay", "0"]))
        while not os.path.exists(port_file):
            time.sleep(0.05)
        stub = int(open(port_file).read())
        models = os.path.join(tmp, "models")
        os.makedirs(models)
        src = os.path.join(ROOT, "models")
        for f in os.listdir(src):
            if os.path.isfile(os.path.join(src, f)):
                shutil.copy(os.path.join(src, f), models)
        # Point every enabled provider at the stub: rewrite each upstream line of the shipped registry.
        text = open(os.path.join(models, "providers.toml")).read()
        registry = tomllib.loads(text)
        enabled = [p["name"] for p in registry["provider"] if p.get("enabled", True)]
        def repoint(m):
            return f'upstream = {{ base_url = "http://127.0.0.1:{stub}/bench/v1" }}'
        text = re.sub(r"^upstream = \{.*\}$", repoint, text, flags=re.M)
        open(os.path.join(models, "providers.toml"), "w").write(text)
        log = open(os.path.join(tmp, "triage.log"), "w+")
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        procs.append(subprocess.Popen(
            [os.path.join(ROOT, "target/release/triage"), "serve", "--proxy", "--no-feedback", "--addr", "127.0.0.1:0",
             "--reload-interval-secs", "0", "--models-dir", models],
            stderr=log, env=env))
        base = None
        for _ in range(1200):
            log.seek(0)
            m = re.search(r"triage: ready on (http://[0-9.:]+)", log.read())
            if m:
                base = m.group(1)
                break
            time.sleep(0.1)
        if base is None:
            log.seek(0)
            print(log.read(), file=sys.stderr)
            return 1
        client = httpx.Client(timeout=30)
        # The embedding cache would make every routed repeat free: a new prompt per request.
        def messages(i):
            return [{"role": "user", "content": f"Summarise request number {i} in one sentence, please."}]
        tools = [
            {"type": "function", "function": {
                "name": f"tool_{k}", "description": f"Tool number {k}: looks something up for the user.",
                "parameters": {"type": "object", "properties": {
                    "query": {"type": "string", "description": "what to look up"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                    "required": ["query"]}}}
            for k in range(20)
        ]
        cases = {
            "direct": lambda i: client.post(f"http://127.0.0.1:{stub}/bench/v1/chat/completions", json={"model": enabled[0], "messages": messages(i)}),
            "pass-through": lambda i: client.post(f"{base}/v1/chat/completions", json={"model": enabled[0], "messages": messages(i)}),
            "route": lambda i: client.post(f"{base}/v1/route", json={"messages": messages(i)}),
            "route (cached)": lambda i: client.post(f"{base}/v1/route", json={"messages": messages(i)}),
            "routed (cached)": lambda i: client.post(f"{base}/v1/chat/completions", json={"model": "triage", "messages": messages(i)}),
            "direct (20 tools)": lambda i: client.post(f"http://127.0.0.1:{stub}/bench/v1/chat/completions", json={"model": enabled[0], "messages": messages(i), "tools": tools}),
            "routed (cached, 20 tools)": lambda i: client.post(f"{base}/v1/chat/completions", json={"model": "triage", "messages": messages(i), "tools": tools}),
        }
        times = {k: [] for k in cases}
        for k, call in cases.items():  # warm-up
            for i in range(20):
                call(10_000_000 + i).raise_for_status()
        # Interleaved so that a slow phase of the machine hits every case alike.
        for i in range(n):
            for k, call in cases.items():
                t = time.perf_counter()
                r = call(i)
                times[k].append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
        p50 = {k: statistics.median(v) for k, v in times.items()}
        result = {
            "requests": n,
            "p50_ms": {k: round(v, 3) for k, v in p50.items()},
            "p90_ms": {k: round(quantile(v, 0.9), 3) for k, v in times.items()},
            "overhead_p50_ms": {
                "pass_through_minus_direct": round(p50["pass-through"] - p50["direct"], 3),
                # Routing with a cached embedding plus forwarding: an upper bound of what the proxy adds on
                # top of the embedding (the part of routing a cache hit skips).
                "routed_cached_minus_direct": round(p50["routed (cached)"] - p50["direct"], 3),
                "routed_cached_20_tools_minus_direct_20_tools": round(
                    p50["routed (cached, 20 tools)"] - p50["direct (20 tools)"], 3),
            },
        }
        print(json.dumps(result, indent=2))
        return 0
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
