"""A run's episodes on disk: ``<out>/episodes.jsonl``, one JSON row per finished episode.

Rows are appended (and flushed) as episodes finish, so a crash or Ctrl-C loses only the episodes
still running. ``resume=True`` reads the rows already there and the runner skips their jobs; a
row of an episode that raised (``"error"``) is not a finished episode and is run again. When the
run ends, the file is rewritten in job order, so it does not depend on the order episodes
finished in (the rewrite goes through a temporary file and ``os.replace``: never half-written).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FILENAME = "episodes.jsonl"
#: The row fields that name its job: the same in a resumed run as in the one it continues.
KEY_FIELDS = ("scenario", "variant", "agent", "seed", "max_episode_steps")


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(k) for k in KEY_FIELDS)


class EpisodeStore:
    def __init__(self, out_dir: Path, resume: bool = False) -> None:
        self.path = Path(out_dir) / FILENAME
        self.done: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.failed: dict[tuple[Any, ...], dict[str, Any]] = {}
        if resume:
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if resume else "w")

    def _load(self) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(f"--resume {self.path.parent}: no {FILENAME} there; run without --resume first")
        with open(self.path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # the last line of a run killed mid-write
                    raise ValueError(f"{self.path}:{n}: not a JSON row; delete that line and resume again") from None
                (self.failed if "error" in row else self.done)[row_key(row)] = row

    def check_plan(self, keys: Iterable[tuple[Any, ...]]) -> None:
        """Every stored row must be a job of this plan (a resumed run extends, never mixes, runs)."""
        foreign = sorted(set(self.done) - set(keys), key=str)
        if foreign:
            shown = ", ".join("/".join(map(str, k)) for k in foreign[:3])
            raise ValueError(
                f"--resume {self.path.parent}: {len(foreign)} episode(s) there are not in this run's plan "
                f"(e.g. {shown}); resume with the arguments of the run that wrote them, or use a new --out"
            )

    def unfinished(self, keys: set[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """The stored error rows of jobs not in ``keys`` (not re-run yet: a resumed run stopped early)."""
        return [row for key, row in self.failed.items() if key not in keys]

    def add(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file with ``rows`` (the run's rows in job order)."""
        self.close()
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w") as f:
            f.writelines(json.dumps(row) + "\n" for row in rows)
        os.replace(tmp, self.path)
