"""Random-weight llama GGUF files, written offline, so tests and benches run the real llama.cpp code path.

Nothing here can download weights, and the analyzer must still be exercised through llama-cpp-python for
real: loading, the chat template, grammar-constrained sampling, the parser behind it. A random model of
the right *format* is enough for that (its words are noise, but the grammar makes them schema-valid
JSON), and a random model of a real model's *shape* runs at that model's speed per token.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

#: A plain chat template: llama-cpp-python renders it with Jinja, as it would a real model's.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2

#: Whole-word pieces on top of the single characters, so the tokenizer has merges to choose from.
_WORD_PIECES = ["▁the", "▁a", "▁person", "▁car", "▁risk", "▁low", "▁high", "▁door", "▁at", "▁night", "er"]


@dataclass(frozen=True)
class ModelShape:
    """The hyper-parameters that decide a llama model's size and its speed per token."""

    n_layers: int
    n_embd: int
    n_heads: int
    n_kv_heads: int
    n_ff: int
    n_vocab_extra: int = 0  # filler pieces beyond the base vocabulary, for a realistic output layer
    context_length: int = 4096


#: The environment recipe: loads in milliseconds, ~25 ms per short answer on a CPU core.
TINY = ModelShape(n_layers=2, n_embd=64, n_heads=4, n_kv_heads=4, n_ff=128, context_length=16384)

#: Context for the tiny model that guarantees no answer is cut off: the prompt (2–4 k tokens, as its
#: byte-level vocabulary spells English letter by letter) plus the longest answer the grammar allows
#: (server.analyze.schema.ASSESSMENT_MAX_BYTES, ~7.9 k). Pass it as `llm_context` / `n_ctx`.
TINY_MODEL_CONTEXT = 16_384

def _vocabulary(n_extra: int) -> tuple[list[str], list[float], list[int]]:
    """An SPM vocabulary: unk/bos/eos, the 256 byte fallbacks, printable characters, a few words."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    printable = ["▁" if ch == " " else ch for ch in string.printable if ch not in "\t\n\r\x0b\x0c"]
    pieces = printable + _WORD_PIECES + [f"▁w{index}" for index in range(n_extra)]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    # SPM prefers the higher score: longer pieces win over spelling a word letter by letter.
    scores = [0.0] * (3 + 256) + [float(len(piece)) - 10.0 for piece in pieces]
    return tokens, scores, [int(kind) for kind in types]


def write_random_gguf(
    path: Path, shape: ModelShape, *, dtype: type = np.float32, seed: int = 0
) -> Path:
    """Write a llama-architecture GGUF with random weights of `shape`; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, token_types = _vocabulary(shape.n_vocab_extra)
    n_vocab = len(tokens)
    head_dim = shape.n_embd // shape.n_heads
    n_embd_kv = head_dim * shape.n_kv_heads
    rng = np.random.default_rng(seed)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("hsi-random-llama")
    writer.add_context_length(shape.context_length)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layers)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_heads)
    writer.add_head_count_kv(shape.n_kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if dtype == np.float32 else gguf.LlamaFileType.MOSTLY_F16)
    writer.add_vocab_size(n_vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(token_types)
    writer.add_unk_token_id(UNK_ID)
    writer.add_bos_token_id(BOS_ID)
    writer.add_eos_token_id(EOS_ID)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    def matrix(rows: int, cols: int) -> np.ndarray:
        # Stored (out, in), as llama.cpp expects; small values keep activations finite.
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.05).astype(dtype)

    def norm(size: int) -> np.ndarray:
        return np.ones(size, dtype=np.float32)  # norms stay F32, as converters write them

    writer.add_tensor("token_embd.weight", matrix(n_vocab, shape.n_embd))
    for layer in range(shape.n_layers):
        prefix = f"blk.{layer}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", norm(shape.n_embd))
        writer.add_tensor(f"{prefix}.attn_q.weight", matrix(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"{prefix}.attn_k.weight", matrix(n_embd_kv, shape.n_embd))
        writer.add_tensor(f"{prefix}.attn_v.weight", matrix(n_embd_kv, shape.n_embd))
        writer.add_tensor(f"{prefix}.attn_output.weight", matrix(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", norm(shape.n_embd))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", matrix(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"{prefix}.ffn_up.weight", matrix(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"{prefix}.ffn_down.weight", matrix(shape.n_embd, shape.n_ff))
    writer.add_tensor("output_norm.weight", norm(shape.n_embd))
    writer.add_tensor("output.weight", matrix(n_vocab, shape.n_embd))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_tiny_gguf(path: Path) -> Path:
    """The tiny test model of environment.md (2 layers, n_embd 64, ~365 tokens, F32)."""
    return write_random_gguf(path, TINY)


def write_corrupt_gguf(path: Path) -> Path:
    """A file llama.cpp refuses to load: the GGUF magic, then garbage (a broken LLM for fallback tests)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path
