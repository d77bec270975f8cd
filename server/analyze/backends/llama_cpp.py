"""llama.cpp in-process (llama-cpp-python): one GGUF model loaded once, decoding under the schema grammar.

The model is shared by every analysis of the process, so calls are serialized (a llama context is not
thread-safe) and run in a worker thread (a generation takes from milliseconds to seconds and must not
block the event loop). A stopping criterion checked at every token lets a timed-out analysis release
the model at once instead of occupying it until its answer is complete. (Streaming would allow that
too, but llama-cpp-python's streaming path costs ~3x more per token.)

The prompt is rendered with the model's own chat template from the GGUF metadata (ChatML when it has
none), the way llama-cpp-python's chat API does, and decoded with `create_completion`, which is the
call that accepts a stopping criterion.

Truncation: the grammar bounds an answer to `ASSESSMENT_MAX_BYTES` bytes and every token carries at
least one byte, so when the context holds the prompt plus that bound an answer can never be cut off.
With a smaller context, `max_tokens` is whatever room is left; a real model's answers (a few hundred
tokens) fit easily, and a cut-off answer is reported as truncated, never half-parsed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.analyze.context import BatchContext
from server.analyze.errors import AnalysisError, AnalysisOutputError, BackendUnavailableError, PromptTooLongError
from server.analyze.prompt import build_prompt
from server.analyze.schema import ASSESSMENT_MAX_BYTES, RiskAssessment, assessment_grammar, parse_assessment

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

log = logging.getLogger("hsi.analyze")

#: Low temperature: scoring should be stable for the same facts, yet not stuck in greedy loops.
DEFAULT_TEMPERATURE = 0.2
#: Small models repeat themselves until the grammar's length limit ("a low risk, a low risk, ..."):
#: measured on SmolLM2-135M over the labelled scenarios, 1.3 cut answers from ~1000 characters of
#: repetition to one or two sentences, and the time per analysis with them.
REPEAT_PENALTY = 1.3

#: A chat template for models whose GGUF carries none.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_GGUF_MAGIC = b"GGUF"


class _Cancelled(Exception):
    """The awaiting analysis was cancelled (timeout); the generation stopped early."""


class LlamaCppAnalyzer:
    """Scores batches with a local GGUF model through llama-cpp-python."""

    name = "llama_cpp"
    concurrency = 1  # one model, one generation at a time

    def __init__(
        self,
        llama: Llama,
        *,
        model_path: Path,
        max_tokens: int = ASSESSMENT_MAX_BYTES,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = None,
    ) -> None:
        from llama_cpp import LlamaGrammar

        self._llama: Llama | None = llama
        self._grammar: LlamaGrammar = LlamaGrammar.from_string(assessment_grammar(), verbose=False)
        self._formatter = _chat_formatter(llama)
        self.model_path = model_path
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._queue = asyncio.Lock()  # callers of the backend itself wait their turn here, in order
        self._model_lock = threading.Lock()  # guards the model, even from a cancelled call's thread

    @classmethod
    def load(
        cls,
        model_path: Path,
        *,
        n_gpu_layers: int = -1,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = ASSESSMENT_MAX_BYTES,
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = None,
    ) -> LlamaCppAnalyzer:
        """Load the model (blocking; seconds for a real model). BackendUnavailableError says why not."""
        path = Path(model_path)
        _check_model_file(path)
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise BackendUnavailableError(
                f"llama-cpp-python is not installed ({err}); install the server's [llm] extra"
            ) from None
        try:
            with _without_amx_buffers():
                llama = Llama(
                    model_path=str(path), n_gpu_layers=n_gpu_layers, n_ctx=n_ctx, n_threads=n_threads, verbose=False
                )
        except (ValueError, RuntimeError, OSError) as err:
            raise BackendUnavailableError(f"llama.cpp cannot load {path}: {err}") from None
        log.info("llama.cpp model %s loaded (n_ctx %d, gpu layers %d)", path, n_ctx, n_gpu_layers)
        return cls(llama, model_path=path, max_tokens=max_tokens, temperature=temperature, seed=seed)

    @classmethod
    async def open(cls, model_path: Path, **options: Any) -> LlamaCppAnalyzer:
        """`load` in a worker thread, so the event loop keeps serving while a big model loads."""
        return await asyncio.to_thread(cls.load, model_path, **options)

    async def assess(self, ctx: BatchContext) -> RiskAssessment:
        """Generate under the grammar, then parse strictly (the grammar is not taken on trust)."""
        messages = build_prompt(ctx).messages()
        async with self._queue:
            cancel = threading.Event()
            try:
                text, finish_reason = await asyncio.to_thread(self._generate, messages, cancel)
            except asyncio.CancelledError:
                cancel.set()  # the thread stops at its next token and frees the model
                raise
        if finish_reason == "length":
            raise AnalysisOutputError(
                f"output truncated after {len(text.encode())} bytes (token limit or context full)"
            )
        return parse_assessment(text)

    def _generate(self, messages: list[dict[str, str]], cancel: threading.Event) -> tuple[str, str | None]:
        """Runs in a worker thread: render the chat prompt, decode under the grammar."""
        from llama_cpp import StoppingCriteriaList

        with self._model_lock:
            llama = self._llama
            if llama is None:
                raise BackendUnavailableError("the llama.cpp model has been closed")
            if cancel.is_set():
                raise _Cancelled
            try:
                chat = self._formatter(messages=messages)  # type: ignore[arg-type]
                prompt = llama.tokenize(chat.prompt.encode("utf-8"), add_bos=not chat.added_special, special=True)
                room = llama.n_ctx() - len(prompt)
                if room <= 0:
                    raise PromptTooLongError(
                        f"prompt of {len(prompt)} tokens does not fit a context of {llama.n_ctx()}"
                    )
                result = llama.create_completion(
                    prompt=prompt,
                    grammar=self._grammar,
                    max_tokens=min(self.max_tokens, room),
                    temperature=self.temperature,
                    repeat_penalty=REPEAT_PENALTY,
                    seed=self.seed,
                    stop=chat.stop,
                    stopping_criteria=StoppingCriteriaList([lambda _tokens, _logits: cancel.is_set()]),
                )
            except AnalysisError:
                raise
            except Exception as err:  # llama.cpp failures surface as assorted exception types
                raise AnalysisError(f"llama.cpp generation failed: {type(err).__name__}: {err}") from err
            if cancel.is_set():
                raise _Cancelled
            choice = result["choices"][0]  # type: ignore[index]
            return choice["text"], choice["finish_reason"]

    async def close(self) -> None:
        """Free the model (waits for a generation still running in a thread)."""
        await asyncio.to_thread(self._release)

    def _release(self) -> None:
        with self._model_lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None


#: Serialises model loads while `_without_amx_buffers` has the library's default parameters replaced.
_LOAD_LOCK = threading.Lock()


@contextmanager
def _without_amx_buffers() -> Iterator[None]:
    """Load with llama.cpp's "extra" CPU buffer types off when the build has AMX kernels.

    Seen here: llama.cpp's AMX kernels (used for Q4_0/Q4_1/Q8_0/K-quant weights on CPUs with AMX, e.g.
    Xeon Sapphire Rapids) crash the process with a segmentation fault in the first decode of a real
    quantised model (SmolLM2-135M Q4_1); with `use_extra_bufts` off the same model runs. A crash would take
    the whole server down, so on such builds the weights stay in plain CPU buffers (the other extra type,
    REPACK, goes with it: some prompt speed, never correctness). llama-cpp-python has no argument for the
    flag, so its default model parameters are adjusted for the duration of the load.
    """
    import llama_cpp
    from llama_cpp import llama as llama_module

    if b"AMX_INT8 = 1" not in llama_cpp.llama_print_system_info():
        yield
        return
    defaults = llama_module.llama_cpp.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = defaults()
        params.use_extra_bufts = False
        return params

    with _LOAD_LOCK:
        llama_module.llama_cpp.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            llama_module.llama_cpp.llama_model_default_params = defaults


def _chat_formatter(llama: Llama) -> Jinja2ChatFormatter:
    """The model's own chat template (GGUF metadata), as llama-cpp-python's chat API would use it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token: int) -> str:
        return "" if token < 0 else llama.detokenize([token], special=True).decode("utf-8", "replace")

    template = llama.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
    return Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llama.token_eos()),
        bos_token=token_text(llama.token_bos()),
        stop_token_ids=[llama.token_eos()],
    )


def _check_model_file(path: Path) -> None:
    """Fail with a sentence a user can act on, before llama.cpp prints its own low-level errors."""
    if not path.exists():
        raise BackendUnavailableError(f"HSI_LLM_MODEL {path} does not exist")
    if not path.is_file():
        raise BackendUnavailableError(f"HSI_LLM_MODEL {path} is not a file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as err:
        raise BackendUnavailableError(f"HSI_LLM_MODEL {path} cannot be read: {err}") from None
    if magic != _GGUF_MAGIC:
        raise BackendUnavailableError(f"HSI_LLM_MODEL {path} is not a GGUF file (it starts with {magic!r})")
