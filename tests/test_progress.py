"""The one progress helper: a bar when asked or interactive, nothing otherwise, tqdm lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jobtools.progress import NullProgress, progress_bar, should_show


@pytest.mark.parametrize(("progress", "shown"), [(False, False), (True, True)])
def test_progress_switch(progress, shown):
    """progress=False shows nothing; True shows a bar even when not interactive."""
    assert should_show(progress) is shown
    bar = progress_bar(3, progress=progress)
    assert isinstance(bar, NullProgress) is (not shown)
    bar.update(1)
    bar.set_postfix_str("x", refresh=False)
    bar.close()


def test_progress_auto_is_off_when_not_interactive():
    """progress=None shows nothing under pytest (stderr is not a terminal, no kernel)."""
    assert should_show(None) is False
    assert isinstance(progress_bar(3), NullProgress)


def test_null_progress_is_a_context_manager():
    """The no-op bar works in a with block like tqdm's."""
    with progress_bar(3, progress=False) as bar:
        bar.update(3)


def test_tqdm_is_imported_only_for_a_bar():
    """Importing the helper (and jobtools) leaves tqdm unloaded until a bar is shown."""
    code = (
        "import sys, jobtools, jobtools.progress as p\n"
        "before = 'tqdm' in sys.modules\n"
        "p.progress_bar(1, progress=True).close()\n"
        "print(before, 'tqdm.auto' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
