"""Any OpenAI-compatible chat server (llama.cpp server, vLLM, Ollama, NIM) at `HSI_LLM_URL`.

The schema goes out as `response_format: json_schema`, which these servers turn into constrained
decoding; the answer still goes through the same strict parser as every other backend, because a
server may ignore `response_format` (older Ollama, some proxies) and we do not take it on trust.

Servers that reject `json_schema` with an error naming `response_format` (llama-cpp-python's own
server, `python -m llama_cpp.server`, accepts only `json_object` with a `schema` beside it) are asked
again in that dialect at once, and the backend keeps using it: the answer stays grammar-constrained.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from server.analyze.context import BatchContext
from server.analyze.errors import (
    AnalysisError,
    AnalysisOutputError,
    BackendUnavailableError,
    PromptTooLongError,
    RateLimitedError,
    RequestRefusedError,
)
from server.analyze.prompt import build_prompt
from server.analyze.schema import ASSESSMENT_JSON_SCHEMA, RiskAssessment, parse_assessment

log = logging.getLogger("hsi.analyze")

#: The start-up probe must not hold the server's start for long when the LLM host is unreachable.
PROBE_TIMEOUT_SECONDS = 5.0

#: The two ways OpenAI-compatible servers take a schema: OpenAI's (most servers) and llama-cpp-python's.
JSON_SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "risk_assessment", "strict": True, "schema": ASSESSMENT_JSON_SCHEMA},
}
JSON_OBJECT_FORMAT: dict[str, Any] = {"type": "json_object", "schema": ASSESSMENT_JSON_SCHEMA}
#: Answers are a few hundred tokens; the cap only stops a runaway server.
MAX_TOKENS = 1024
#: A chat completion of `MAX_TOKENS` tokens is a few kilobytes: a reply larger than this is not one (a
#: runaway server, a proxy streaming something else) and is not read further into memory.
MAX_RESPONSE_BYTES = 1024 * 1024
TEMPERATURE = 0.2


class OpenAIAnalyzer:
    """Scores batches by POSTing to `{base_url}/v1/chat/completions`."""

    name = "openai"
    concurrency = None  # the server queues or batches; its queue is the model's time

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.api_key = api_key
        self.model = model
        #: No model configured: the server's first one is learnt from /v1/models (again when it changes).
        self._learns_model = model is None
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.response_format = JSON_SCHEMA_FORMAT
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._session = aiohttp.ClientSession(headers=headers, timeout=self.timeout)
        return self._session

    async def start(self) -> None:
        """Check the server answers and learn its model name when none is configured.

        BackendUnavailableError when it is down: the caller starts degraded and tries again later.
        """
        try:
            probe_timeout = aiohttp.ClientTimeout(total=min(PROBE_TIMEOUT_SECONDS, self.timeout.total or PROBE_TIMEOUT_SECONDS))
            async with self._client().get(f"{self.base_url}/v1/models", timeout=probe_timeout) as response:
                if response.status >= 400:
                    raise BackendUnavailableError(
                        f"LLM server {self.base_url} answered {response.status} to GET /v1/models"
                    )
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise BackendUnavailableError(
                f"LLM server {self.base_url} is unreachable: {type(err).__name__}: {err}"
            ) from None
        if self._learns_model:
            models = body.get("data") if isinstance(body, dict) else None
            if isinstance(models, list) and models and isinstance(models[0], dict):
                self.model = str(models[0].get("id") or "default")
            else:
                self.model = "default"
        log.info("LLM server %s ready (model %s)", self.base_url, self.model)

    def request_body(self, ctx: BatchContext) -> dict[str, Any]:
        """The chat completion request for `ctx`, with the assessment schema as response format."""
        return {
            "model": self.model or "default",
            "messages": build_prompt(ctx).messages(),
            "temperature": TEMPERATURE,
            "max_tokens": MAX_TOKENS,
            "response_format": self.response_format,
        }

    async def assess(self, ctx: BatchContext) -> RiskAssessment:
        """One POST (two when the server first teaches us its schema dialect); every failure is AnalysisError."""
        status, raw, retry_after = await self._post(ctx)
        if status >= 400 and self.response_format is JSON_SCHEMA_FORMAT and "response_format" in raw:
            log.info("LLM server %s rejects json_schema; using json_object with a schema", self.base_url)
            self.response_format = JSON_OBJECT_FORMAT
            status, raw, retry_after = await self._post(ctx)
        if status == 404 and self._learns_model:
            # The model learnt at the start is gone (the server now serves another): learn it again.
            learnt = self.model
            await self.start()
            if self.model != learnt:
                status, raw, retry_after = await self._post(ctx)
        if status >= 400:
            raise _refusal(status, raw, retry_after)
        return parse_assessment(_message_content(raw))

    async def _post(self, ctx: BatchContext) -> tuple[int, str, float | None]:
        """The answer's status, body and Retry-After (seconds)."""
        url = f"{self.base_url}/v1/chat/completions"
        try:
            async with self._client().post(url, json=self.request_body(ctx)) as response:
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise AnalysisOutputError(
                            f"LLM server response is over {MAX_RESPONSE_BYTES} bytes: not a chat completion"
                        )
                retry_after = _seconds(response.headers.get("Retry-After"))
                return response.status, body.decode("utf-8", errors="replace"), retry_after
        except aiohttp.ClientError as err:
            raise AnalysisError(f"LLM server request failed: {type(err).__name__}: {err}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


#: What servers say when a prompt is longer than the model's context (llama-server, vLLM, OpenAI).
_CONTEXT_EXCEEDED = ("context size", "context length", "context window", "too long", "exceeds")


def _refusal(status: int, raw: str, retry_after: float | None) -> AnalysisError:
    """The error of an HTTP error answer: busy (429, 503) is waited out, a prompt over the context is
    this batch's, another 4xx is the same for the same request; the rest (5xx) may pass."""
    message = f"LLM server answered HTTP {status}: {raw[:200]!r}"
    if status in (429, 503):
        return RateLimitedError(message, retry_after)
    if 400 <= status < 500 and status != 408:
        if any(words in raw.lower() for words in _CONTEXT_EXCEEDED):
            return PromptTooLongError(message)
        return RequestRefusedError(message)
    return AnalysisError(message)


def _seconds(header: str | None) -> float | None:
    """A Retry-After of seconds (the HTTP-date form is not worth waiting for here)."""
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


def _message_content(raw: str) -> str:
    """`choices[0].message.content` of a chat completion response, or a precise error."""
    try:
        body = json.loads(raw)
        content = body["choices"][0]["message"]["content"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as err:
        raise AnalysisOutputError(
            f"LLM server response is not a chat completion ({type(err).__name__}: {err}): {raw[:200]!r}"
        ) from None
    if not isinstance(content, str):
        raise AnalysisOutputError(f"LLM server message content is {type(content).__name__}, not text")
    return content
