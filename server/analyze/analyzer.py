"""The analyzer the workers use: the configured backend, made safe to depend on.

Every batch gets a score: the primary backend is tried with retries and exponential backoff inside one
time budget (`HSI_LLM_TIMEOUT_SECONDS`), behind a circuit breaker, and whatever goes wrong (garbage
output, timeout, server down, model missing) ends in the rules scorer, with the reason logged on
`hsi.analyze` and the backend that scored it returned next to the assessment.

The budget is the model's: it starts when the model is free for the call. Callers beyond what the
backend serves at once (a llama.cpp model: one) wait their turn here first, so a burst of events on a
healthy model is refined late rather than by the rules, and never opens the breaker. The event and
its first alerts are out already (server/analyze/worker.py); an analysis preview, for which a person
waits, waits at most one budget for its turn, then is scored by the rules (no failure of the model). A model's
answer is bounded by the rules scorer's evidence (server.analyze.anchoring), so calibration holds
whatever the model.

A primary that cannot be loaded at start does not stop the server: the analyzer reports "degraded",
scores with rules, and tries to load the primary again in the background every `reload_seconds`.
A GGUF named by a Hugging Face Hub id (`HSI_LLM_MODEL=owner/name/file.gguf`) is downloaded in the
background from `start()` on (server.hub); the rules score meanwhile and the model loads the moment its
download is verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from server.analyze.anchoring import anchor
from server.analyze.backends.base import Analyzer
from server.analyze.backends.rules import RulesAnalyzer
from server.analyze.context import BatchContext
from server.analyze.errors import (
    BackendUnavailableError,
    PromptTooLongError,
    RateLimitedError,
    RequestRefusedError,
)
from server.analyze.resilience import BreakerState, CircuitBreaker, RetryPolicy
from server.analyze.schema import RiskAssessment
from server.config import Settings
from server.hub import HubFetcher, HubModel

log = logging.getLogger("hsi.analyze")

FALLBACK_NAME = "rules_fallback"
BackendChoice = Literal["llama_cpp", "openai", "rules"]
Loader = Callable[[], Awaitable[Analyzer]]
Sleep = Callable[[float], Awaitable[None]]


class ResilientAnalyzer:
    """Primary backend + timeout + retries + circuit breaker + rules fallback."""

    def __init__(
        self,
        *,
        primary_name: str,
        loader: Loader | None,
        timeout_seconds: float,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        preview_breaker: CircuitBreaker | None = None,
        fallback: Analyzer | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        reload_seconds: float = 60.0,
        fetcher: HubFetcher | None = None,
    ) -> None:
        self.primary_name = primary_name
        self.fetcher = fetcher
        self._download_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._loader = loader
        self.timeout_seconds = timeout_seconds
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(clock=clock)
        #: The analysis preview's own breaker: a user previewing against a struggling backend must not
        #: open the pipeline's breaker and send real events to the rules fallback.
        self.preview_breaker = preview_breaker or CircuitBreaker(clock=clock)
        self._fallback = fallback or RulesAnalyzer()
        self._sleep = sleep
        self._clock = clock
        self.reload_seconds = reload_seconds
        self._primary: Analyzer | None = None if loader else self._fallback
        self._load_attempted_at: float | None = None
        self._first_load: asyncio.Task[None] | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._load_lock = asyncio.Lock()
        #: Calls to the primary at once, up to its `concurrency` (made at its first call).
        self._turns: asyncio.Semaphore | None = None
        self.last_error: str | None = None
        self.fallbacks = 0

    @property
    def loaded(self) -> bool:
        return self._primary is not None

    async def start(self) -> None:
        """Load the primary (once; later calls wait for that first load). Never raises for a backend
        that cannot load: that is "degraded", and reloads are tried in the background later."""
        if self._first_load is None:
            self._first_load = asyncio.create_task(self._load(), name=f"hsi-load-{self.primary_name}")
        await asyncio.shield(self._first_load)
        if self._primary is None and self.fetcher is not None and self._download_task is None:
            self._download_task = asyncio.create_task(
                self.fetcher.run(lambda _path: self._load(), "analyzer", self._stopping),
                name=f"hsi-download-{self.primary_name}",
            )

    async def _load(self) -> None:
        async with self._load_lock:  # one load at a time; a second caller finds it done
            if self._primary is None and self._loader is not None:
                await self._load_primary(self._loader)

    async def _load_primary(self, loader: Loader) -> None:
        self._load_attempted_at = self._clock()
        try:
            self._primary = await loader()
        except Exception as err:  # a loader may fail in many ways; none may stop the server
            self.last_error = f"cannot load {self.primary_name}: {_reason(err)}"
            log.error("analysis backend %s unavailable, scoring with rules: %s", self.primary_name, self.last_error)
            return
        self.last_error = None
        self.breaker.record_success()
        self.preview_breaker.record_success()
        log.info("analysis backend %s ready", self.primary_name)

    def _reload_in_background(self) -> None:
        """Try loading a failed primary again, at most once per `reload_seconds`, without waiting."""
        if self._loader is None or (self._load_task is not None and not self._load_task.done()):
            return
        if self._load_attempted_at is not None and self._clock() - self._load_attempted_at < self.reload_seconds:
            return
        self._load_task = asyncio.create_task(self._load(), name=f"hsi-load-{self.primary_name}")

    async def assess(self, ctx: BatchContext) -> tuple[RiskAssessment, str]:
        """Score a pipeline batch; returns the assessment and the name of the backend that produced it."""
        return await self._assess(ctx, self.breaker, pipeline=True)

    async def preview(self, ctx: BatchContext) -> tuple[RiskAssessment, str]:
        """Score an analysis preview: the same backend and fallback, behind `preview_breaker`; its
        failures change neither the pipeline's breaker nor the health (`last_error`, `fallbacks`)."""
        return await self._assess(ctx, self.preview_breaker, pipeline=False)

    async def _assess(
        self, ctx: BatchContext, breaker: CircuitBreaker, *, pipeline: bool
    ) -> tuple[RiskAssessment, str]:
        if self._primary is None and (self._first_load is None or not self._first_load.done()):
            await self.start()  # first use without an explicit start(), or while it runs: wait for it
        primary = self._primary
        if primary is None:
            self._reload_in_background()
            return await self._fall_back(ctx, self.last_error or f"{self.primary_name} not loaded", pipeline)
        if primary is self._fallback:
            return await primary.assess(ctx), primary.name
        trial = breaker.state is BreakerState.HALF_OPEN
        if not breaker.allow():
            return await self._fall_back(
                ctx, f"circuit breaker open after repeated {primary.name} failures", pipeline
            )
        attempt = _Attempts()
        try:
            async with self._turn(primary, wait=None if pipeline else self.timeout_seconds):
                async with asyncio.timeout(self.timeout_seconds):
                    answer = await self._with_retries(primary, ctx, attempt, breaker)
        except _Busy:
            return await self._fall_back(
                ctx, f"{primary.name} busy with other analyses for {self.timeout_seconds:g} s", pipeline
            )
        except TimeoutError:
            if attempt.calling:  # the time ran out inside a call (not during a backoff pause)
                breaker.record_failure()
            reason = f"{primary.name} timed out after {self.timeout_seconds:g} s (attempt {attempt.number})"
            if attempt.errors:
                reason += f"; earlier: {attempt.errors[-1]}"
            return await self._fall_back(ctx, reason, pipeline)
        except _PrimaryFailed as failed:
            return await self._fall_back(ctx, str(failed), pipeline)
        finally:
            if trial:  # a trial that never reached the model, or was cancelled: the next call tries
                breaker.end_trial()
        if pipeline:
            self.last_error = None
        seen = {detection.object_type for detection in ctx.detections}
        return anchor(answer, await self._fallback.assess(ctx), primary.name, seen), primary.name

    async def _with_retries(
        self, primary: Analyzer, ctx: BatchContext, attempt: _Attempts, breaker: CircuitBreaker
    ) -> RiskAssessment:
        while True:
            attempt.number += 1
            attempt.calling = True
            try:
                result = await primary.assess(ctx)
            except Exception as err:  # any failure of the primary is a reason to fall back, never a crash
                attempt.calling = False
                # A prompt over the context is this batch's, a busy server is busy: neither says the
                # backend is broken (one camera's crowded batch must not take the model from all).
                if not isinstance(err, PromptTooLongError | RateLimitedError):
                    breaker.record_failure()
                reason = f"{primary.name} failed: {_reason(err)}"
                attempt.errors.append(reason)
                log.warning("analysis attempt %d/%d: %s", attempt.number, self.retry.attempts, reason)
                final = isinstance(err, BackendUnavailableError | PromptTooLongError | RequestRefusedError)
                if final or attempt.number >= self.retry.attempts:
                    raise _PrimaryFailed(f"{reason} (after {attempt.number} attempts)") from err
                if not breaker.allow():
                    raise _PrimaryFailed(f"{reason}; circuit breaker opened") from err
                delay = self.retry.delay(attempt.number)
                if isinstance(err, RateLimitedError) and err.retry_after is not None:
                    delay = max(delay, err.retry_after)  # the time budget still bounds the wait
                await self._sleep(delay)
                continue
            attempt.calling = False
            breaker.record_success()
            return result

    @contextlib.asynccontextmanager
    async def _turn(self, primary: Analyzer, *, wait: float | None) -> AsyncIterator[None]:
        """The model free for this call, waited for at most `wait` seconds (`_Busy` then); no wait for
        a backend without a limit of its own."""
        if primary.concurrency is None:
            yield
            return
        if self._turns is None:
            self._turns = asyncio.Semaphore(primary.concurrency)
        try:
            async with asyncio.timeout(wait):
                await self._turns.acquire()
        except TimeoutError:
            raise _Busy from None
        try:
            yield
        finally:
            self._turns.release()

    async def _fall_back(self, ctx: BatchContext, reason: str, pipeline: bool) -> tuple[RiskAssessment, str]:
        if pipeline:
            self.fallbacks += 1
            self.last_error = reason
        log.warning(
            "%s of camera %s scored by rules fallback: %s",
            "batch" if pipeline else "preview",
            ctx.camera_id,
            reason,
            extra={"component": "analyze", "camera_id": ctx.camera_id},
        )
        return await self._fallback.assess(ctx), FALLBACK_NAME

    def status(self) -> dict[str, Any]:
        """For the health endpoint: "degraded" whenever events are not scored by the configured backend."""
        breaker = self.breaker.state
        healthy = self._primary is not None and (self._primary is self._fallback or breaker is BreakerState.CLOSED)
        return {
            "status": "healthy" if healthy else "degraded",
            "backend": self.primary_name,
            "healthy": healthy,
            "loaded": self._primary is not None,
            "last_error": self.last_error,
            "breaker": breaker.value,
            "preview_breaker": self.preview_breaker.state.value,
            "consecutive_failures": self.breaker.consecutive_failures,
            "fallbacks": self.fallbacks,
            "download": self.fetcher.progress.report() if self.fetcher is not None else None,
        }

    async def close(self) -> None:
        self._stopping.set()
        for task in (self._first_load, self._load_task, self._download_task):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._primary is not None and self._primary is not self._fallback:
            await self._primary.close()
        self._primary = None
        await self._fallback.close()


class _Attempts:
    """Progress of one analysis through its retries (read after a timeout interrupts it)."""

    def __init__(self) -> None:
        self.number = 0
        self.calling = False
        self.errors: list[str] = []


class _Busy(Exception):
    """No turn at the model within the wait allowed (other analyses hold it)."""


class _PrimaryFailed(Exception):
    """All attempts of the primary failed; the message is the reason to log."""


def _reason(err: BaseException) -> str:
    message = str(err)
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def select_backend(settings: Settings) -> BackendChoice:
    """`HSI_LLM`, with auto = llama_cpp if the model is here (a file, or a Hub model fetched already),
    else openai if a URL is set, else llama_cpp for a Hub model (fetched meanwhile), else rules.

    A URL wins over a Hub model not fetched yet: the add-on ships the Nemotron Hub id as its model, and a
    user who names their GPU box's server wants it, not a 2.7 GB download run on the add-on's CPU."""
    if settings.llm != "auto":
        return settings.llm
    model = settings.llm_model
    if isinstance(model, HubModel):
        if HubFetcher(model, settings.models_dir).cached() is not None:
            return "llama_cpp"
    elif model is not None and model.is_file():
        return "llama_cpp"
    if settings.llm_url:
        return "openai"
    return "llama_cpp" if isinstance(model, HubModel) else "rules"


def build_analyzer(
    settings: Settings,
    *,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    retry: RetryPolicy | None = None,
) -> ResilientAnalyzer:
    """The analyzer for `settings`; call `await analyzer.start()` to load the backend."""
    choice = select_backend(settings)
    model = settings.llm_model
    fetcher = HubFetcher(model, settings.models_dir) if choice == "llama_cpp" and isinstance(model, HubModel) else None
    loader = _loader(choice, settings, fetcher)
    return ResilientAnalyzer(
        primary_name=choice,
        loader=loader,
        timeout_seconds=settings.llm_timeout_seconds,
        retry=retry,
        breaker=CircuitBreaker(clock=clock),
        sleep=sleep,
        clock=clock,
        fetcher=fetcher,
    )


class SharedAnalyzer:
    """This process's one analyzer, built on first use by whichever part asks first.

    The analyze role and the analysis preview both score with it, so `python -m server run` loads the
    model once; an API running alone builds it on its first preview. Its owner (the application, or an
    app created without one) closes it after every part that borrowed it has stopped. Load the model
    with `await analyzer.start()` (a no-op once loaded).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._analyzer: ResilientAnalyzer | None = None

    def get(self) -> ResilientAnalyzer:
        if self._analyzer is None:
            self._analyzer = build_analyzer(self._settings)
        return self._analyzer

    def install(self, analyzer: ResilientAnalyzer) -> ResilientAnalyzer:
        """Use an analyzer built elsewhere (a test's own clock and sleeps); only before the first `get`."""
        if self._analyzer is not None:
            raise RuntimeError("this process's analyzer is already built")
        self._analyzer = analyzer
        return analyzer

    async def close(self) -> None:
        if self._analyzer is not None:
            await self._analyzer.close()


def _loader(choice: BackendChoice, settings: Settings, fetcher: HubFetcher | None) -> Loader | None:
    if choice == "rules":
        return None
    if choice == "llama_cpp":
        return lambda: _open_llama(settings, fetcher)
    return lambda: _open_openai(settings)


async def _open_llama(settings: Settings, fetcher: HubFetcher | None) -> Analyzer:
    from server.analyze.backends.llama_cpp import LlamaCppAnalyzer

    model = settings.llm_model
    if fetcher is not None:
        model = await asyncio.to_thread(fetcher.cached)
        if model is None:
            progress = fetcher.progress
            state = f"not downloaded ({progress.error})" if progress.state == "failed" else "being downloaded"
            raise BackendUnavailableError(f"HSI_LLM_MODEL={fetcher.model} is {state}")
    if not isinstance(model, Path):
        raise BackendUnavailableError("HSI_LLM=llama_cpp needs HSI_LLM_MODEL (a .gguf file or a Hub id)")
    return await LlamaCppAnalyzer.open(model, n_gpu_layers=settings.llm_gpu_layers, n_ctx=settings.llm_context)


async def _open_openai(settings: Settings) -> Analyzer:
    from server.analyze.backends.openai import OpenAIAnalyzer

    if not settings.llm_url:
        raise BackendUnavailableError("HSI_LLM=openai needs HSI_LLM_URL")
    # The analyzer's time budget governs; the HTTP client's own timeout is only a backstop, set later so
    # that the two never race (aiohttp would turn the budget's cancellation into its own TimeoutError).
    analyzer = OpenAIAnalyzer(
        settings.llm_url,
        api_key=settings.llm_api_key,
        model=settings.llm_server_model,
        timeout_seconds=settings.llm_timeout_seconds + 5.0,
    )
    try:
        await analyzer.start()
    except BaseException:
        await analyzer.close()
        raise
    return analyzer
