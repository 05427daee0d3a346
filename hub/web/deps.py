"""Request dependencies, as type aliases (``RuntimeDep``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from hub.runtime import HubRuntime


def get_runtime(request: Request) -> HubRuntime:
    """The hub runtime of this application."""
    runtime: HubRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[HubRuntime, Depends(get_runtime)]

ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
"""A database row id in a path: a positive 32-bit integer (larger ones are refused with 422
before they reach the database, whose INTEGER columns would overflow)."""
