"""Request dependencies, as type aliases (``RuntimeDep``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hub.runtime import HubRuntime


def get_runtime(request: Request) -> HubRuntime:
    """The hub runtime of this application."""
    runtime: HubRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[HubRuntime, Depends(get_runtime)]
