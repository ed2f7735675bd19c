"""Which engine holds a frame: the analysis functions hand Dask frames to `_dask`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeGuard

if TYPE_CHECKING:
    import dask.dataframe as dd


def is_dask(frame: object) -> TypeGuard[dd.DataFrame]:
    """True for a Dask DataFrame, without importing Dask (whoever made one has imported it)."""
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(frame, dd.DataFrame)
