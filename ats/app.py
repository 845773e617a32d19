"""The standalone service: the plugin and nothing more."""

from __future__ import annotations

from litestar import Litestar

from .plugin import ATSConfig, ATSPlugin
from .settings import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    return Litestar(plugins=[ATSPlugin(ATSConfig(settings=settings))])
