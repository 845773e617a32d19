"""The built wheel, installed in a fresh venv, mounted by a host app that has its own api/storage/exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from ats.settings import Settings
from tests.conftest import PASSWORD, Account

REPO = Path(__file__).resolve().parents[2]

HOST_APP = """
import json

import api, exports, storage  # the host's own packages, named like the ones in ats's repository
from litestar import Litestar, get
from litestar.testing import TestClient

import ats
from ats import ATSConfig, ATSPlugin


@get("/hello")
async def hello() -> dict[str, str]:
    return {"host": api.NAME + storage.NAME + exports.NAME}


app = Litestar(route_handlers=[hello], plugins=[ATSPlugin(ATSConfig(path_prefix="/ats", background_jobs=False))])
with TestClient(app) as client:
    token = client.post("/ats/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
    me = client.get("/ats/api/v1/me", headers={"Authorization": "Bearer " + token.json()["access_token"]})
    print(json.dumps({
        "hello": client.get("/hello").json(),
        "ready": client.get("/ats/health/ready").status_code,
        "me": me.json()["data"]["account"]["id"],
        "ats": ats.__file__,
        "ats_api": __import__("ats.api.routes").api.__file__,
        "api": api.__file__,
    }))
"""


def test_wheel_mounts_in_a_host_app_with_its_own_api_package(
    tmp_path: Path, settings: Settings, account: Account
) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels, REPO],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("ats-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # The wheel goes into the fresh venv; its dependencies come from this venv's site-packages, appended by a
    # plain path line (so this venv's editable install of ats, a .pth hook there, is not run).
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    host = tmp_path / "host"
    for package in ("api", "storage", "exports"):
        (host / package).mkdir(parents=True)
        (host / package / "__init__.py").write_text(f"NAME = {package[0]!r}\n")
    (host / "app.py").write_text(
        f"EMAIL = {account.admin_email!r}\nPASSWORD = {PASSWORD!r}\n" + textwrap.dedent(HOST_APP)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATS_", "PYTHON"))}
    env |= {
        "ATS_DATA_DIR": str(tmp_path / "data"),
        "ATS_DATABASE_URL": str(settings.database_url),
        "ATS_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "ATS_S3_ACCESS_KEY_ID": str(settings.s3_access_key_id),
        "ATS_S3_SECRET_ACCESS_KEY": str(settings.s3_secret_access_key),
        "ATS_S3_BUCKET": settings.s3_bucket,
    }
    done = subprocess.run([python, "app.py"], cwd=host, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["hello"] == {"host": "ase"}
    assert seen["ready"] == 200
    assert seen["me"] == str(account.id)
    assert seen["api"] == str(host / "api" / "__init__.py")
    assert seen["ats"].startswith(str(site)) and seen["ats_api"].startswith(str(site / "ats" / "api"))
