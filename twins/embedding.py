"""A deterministic hashing embedding of command text: fixed length, no model, no download.

Tokens (lower-cased words and numbers) and word bigrams are hashed with BLAKE2b (stable across
processes and platforms, unlike Python's salted ``hash``) into ``dim`` signed buckets; the vector
is L2-normalised. Similar commands share buckets, so an agent can condition on the text without a
language model; ``GoalSpec.vector()`` carries the interpreted goal beside it.
"""

from __future__ import annotations

import hashlib
import itertools
import re

import numpy as np

DEFAULT_DIM = 64
_TOKEN = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


def embed_text(text: str | None, dim: int = DEFAULT_DIM) -> np.ndarray:
    """float32 vector of length ``dim``; all zeros for ``None`` or text without tokens."""
    if dim < 1:
        raise ValueError(f"embedding dim must be >= 1, got {dim}")
    out = np.zeros(dim, dtype=np.float32)
    if not text:
        return out
    tokens = _TOKEN.findall(text.lower())
    features = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    for feature in features:
        i, sign = _bucket(feature, dim)
        out[i] += sign
    norm = float(np.linalg.norm(out))
    return out / norm if norm > 0 else out
