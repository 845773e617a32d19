"""ats: a recruiter-side applicant tracking backend, shipped as a Litestar plugin.

``from ats import ATSPlugin`` loads the web layer; importing any domain module (``ats.pipeline``, ``ats.services``)
does not, so the domain stays usable (and testable) without Litestar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plugin import ATSConfig, ATSPlugin

__all__ = ["ATSConfig", "ATSPlugin"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import plugin

        return getattr(plugin, name)
    raise AttributeError(f"module 'ats' has no attribute {name!r}")
