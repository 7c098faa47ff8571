"""LiteLLM proxy plugin: triage chooses the model of every request sent to a routed model name.

Load it from the proxy's config (see config.yaml beside this file):

    litellm_settings:
      callbacks: triage_router.proxy_handler_instance

A request whose ``model`` is one of ``TRIAGE_ROUTED_MODELS`` (default ``triage,auto``) is sent to
triage's ``POST /v1/route`` with its messages; ``data["model"]`` becomes the provider triage chose, which
must be a ``model_name`` of the proxy's ``model_list``. If triage is down, slow (``TRIAGE_TIMEOUT_MS``,
default 50) or answers an error, the request goes to ``TRIAGE_DEFAULT_MODEL`` and a warning is logged:
the gateway never fails because the router did. Routing options can ride along in the request's
``triage`` field (the openai client's ``extra_body``); the field is removed before the call goes out.

Settings (environment variables, read when the proxy loads the plugin):
    TRIAGE_URL            triage's base URL (default http://127.0.0.1:8080)
    TRIAGE_TIMEOUT_MS     how long to wait for triage's decision (default 50)
    TRIAGE_DEFAULT_MODEL  the model_name used when triage gives no decision (required)
    TRIAGE_ROUTED_MODELS  comma-separated model names that mean "let triage choose" (default triage,auto)
    TRIAGE_ALLOWED        optional comma-separated providers triage may choose (say, the model_names
                          of the proxy's model_list); default: triage's enabled providers
    TRIAGE_MAX_FALLBACKS  how many of the next eligible candidates go into the request's `fallbacks`,
                          which LiteLLM tries when the chosen model fails (default 2; 0 turns it off)
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("triage_router")

# The request fields triage may read: only what it needs to label the prompt and apply the options.
_OPTION_FIELDS = {
    "min_quality",
    "min_confidence",
    "max_quality_drop",
    "max_cost_usd",
    "allowed_providers",
    "denied_providers",
    "force_provider",
    "session_id",
}

# The chat fields that say what the request needs from a provider (tools, images are in the messages,
# a JSON schema, its output limit): triage routes only to providers that can serve them.
_NEED_FIELDS = (
    "tools",
    "functions",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "max_tokens",
    "max_completion_tokens",
)


class TriageRouter(CustomLogger):
    """Rewrites ``data["model"]`` to triage's choice before LiteLLM's router picks a deployment."""

    def __init__(
        self,
        url: str | None = None,
        timeout_ms: float | None = None,
        default_model: str | None = None,
        routed_models: list[str] | None = None,
        allowed: list[str] | None = None,
    ) -> None:
        super().__init__()
        self._given = (url, timeout_ms, default_model, routed_models, allowed)
        self._resolved = False
        # One pooled client for every request: a connection per request would cost more than routing.
        self._client: httpx.AsyncClient | None = None

    def _settings(self) -> None:
        # Read on first use, not at import: the proxy applies its config's environment_variables after
        # it has imported the callbacks.
        if self._resolved:
            return
        url, timeout_ms, default_model, routed_models, allowed = self._given
        self.url = (url or os.environ.get("TRIAGE_URL", "http://127.0.0.1:8080")).rstrip("/")
        self.timeout = float(timeout_ms or os.environ.get("TRIAGE_TIMEOUT_MS", "50")) / 1000.0
        self.default_model = default_model or os.environ.get("TRIAGE_DEFAULT_MODEL")
        names = routed_models or _split(os.environ.get("TRIAGE_ROUTED_MODELS", "triage,auto"))
        self.routed_models = set(names)
        self.allowed = allowed if allowed is not None else _split(os.environ.get("TRIAGE_ALLOWED", ""))
        self.max_fallbacks = int(os.environ.get("TRIAGE_MAX_FALLBACKS", "2"))
        self._resolved = True

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        self._settings()
        # Chat requests only (embeddings and others carry no messages to label).
        if data.get("model") not in self.routed_models or not isinstance(data.get("messages"), list):
            return data
        options = data.pop("triage", None) or {}
        body: dict[str, Any] = {k: v for k, v in options.items() if k in _OPTION_FIELDS}
        if self.allowed and "allowed_providers" not in body:
            body["allowed_providers"] = self.allowed
        body["messages"] = data.get("messages") or []
        for field in _NEED_FIELDS:
            if data.get(field) is not None:
                body[field] = data[field]
        requested = data["model"]
        try:
            reply = await self._http().post(f"{self.url}/v1/route", json=body, timeout=self.timeout)
            if reply.is_error:
                raise _Refused(reply)
            decision = reply.json()
            provider = decision["provider"]
        except Exception as e:  # any failure of the router: the gateway carries on with its default
            provider = self.default_model
            log.warning(
                "triage gave no decision (%s); sending model %r to the default %r",
                e if isinstance(e, _Refused) else type(e).__name__,
                requested,
                provider,
            )
            decision = None
        if provider is None:
            log.warning("TRIAGE_DEFAULT_MODEL is not set; model %r is left as it is", requested)
            return data
        data["model"] = provider
        if decision is not None and self.max_fallbacks > 0 and "fallbacks" not in data:
            # The next eligible candidates (cheapest first): LiteLLM tries them if the choice fails.
            rest = [
                c["provider"]
                for c in decision.get("candidates", [])
                if c.get("eligible") and c.get("provider") != provider
            ]
            if rest:
                data["fallbacks"] = rest[: self.max_fallbacks]
        metadata = data.setdefault("metadata", {})
        if isinstance(metadata, dict):
            metadata["triage_requested_model"] = requested
            metadata["triage_provider"] = provider
            if decision is not None:
                metadata["triage_decision_id"] = decision.get("decision_id")
                metadata["triage_labels"] = decision.get("labels")
        return data


class _Refused(Exception):
    """triage answered an error: its status and message (never secrets: triage's errors carry none)."""

    def __init__(self, reply: httpx.Response) -> None:
        try:
            message = reply.json()["error"]["message"]
        except Exception:
            message = reply.text[:300]
        super().__init__(f"triage answered {reply.status_code}: {message}")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


proxy_handler_instance = TriageRouter()
