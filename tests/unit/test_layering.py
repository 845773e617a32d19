"""The domain loads without the web layer; the plugin is the one way in."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_the_domain_does_not_load_litestar_or_the_api() -> None:
    modules = loaded_after("import ats.pipeline, ats.services.applications, ats.services.erasure, ats.cli")
    assert "ats.services.applications" in modules
    assert not {m for m in modules if m == "litestar" or m.startswith(("litestar.", "ats.api"))}


def test_the_plugin_is_importable_from_the_package_root() -> None:
    modules = loaded_after("from ats import ATSPlugin")
    assert {"litestar", "ats.plugin", "ats.api.routes"} <= modules
