"""One progress bar: a terminal bar in a terminal, a widget in a notebook, nothing on request.

tqdm is imported only when a bar is actually shown, so `import jobtools` stays light
(tqdm.auto pulls in tqdm.notebook and ipywidgets inside a kernel).
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Protocol

__all__ = ["NullProgress", "Progress", "in_notebook", "progress_bar", "should_show"]


class Progress(Protocol):
    """What jobtools needs from a bar (tqdm satisfies it)."""

    def update(self, n: float = 1) -> Any: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> Any: ...

    def close(self) -> Any: ...


class NullProgress:
    """A bar that shows nothing: used when progress is off."""

    def update(self, n: float = 1) -> None:
        """Do nothing."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Do nothing."""

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (checked without importing IPython)."""
    return "ipykernel.zmqshell" in sys.modules and "IPython" in sys.modules


def should_show(progress: bool | None) -> bool:
    """Resolve `progress`: True/False as given; None shows a bar in a notebook or a terminal."""
    if progress is not None:
        return bool(progress)
    if in_notebook():
        return True
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def progress_bar(
    total: int | None,
    *,
    progress: bool | None = None,
    desc: str | None = None,
    unit: str = "job",
    **options: Any,
) -> Progress:
    """Return a tqdm.auto bar, or a `NullProgress` when `should_show(progress)` is False.

    Extra `options` go to tqdm. Close the bar when done (both kinds are context managers).
    """
    if not should_show(progress):
        return NullProgress()
    from tqdm.auto import tqdm

    bar: Progress = tqdm(
        total=total, desc=desc, unit=unit, disable=False, dynamic_ncols=True, **options
    )
    return bar
