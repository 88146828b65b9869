"""A progress bar over a run's episodes, with an ETA."""

from __future__ import annotations

import sys
import time


def progress(i: int, n: int, label: str, started: float) -> None:
    width = 30
    done = int(width * i / n)
    eta = (time.perf_counter() - started) / max(i, 1) * (n - i)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} eta {eta:5.0f}s {label:<45}")
    sys.stderr.flush()


class Progress:
    """A bar over episodes with an ETA: tqdm where it is installed (the marl extra), else ``progress``."""

    def __init__(self, n: int) -> None:
        self.n, self.i, self.started = n, 0, time.perf_counter()
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=n, unit="episode", file=sys.stderr, smoothing=0.0, dynamic_ncols=True)

    def done(self, label: str) -> None:
        self.i += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(1)
        else:
            progress(self.i, self.n, label, self.started)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.n:
            sys.stderr.write("\n")
