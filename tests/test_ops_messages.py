"""Operators' messages say what is true (review r92: S11, Doc5)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_auth_users_without_a_passwords_file_says_so(tmp_path: Path) -> None:
    """Doc5: `python -m riskwarn.stream.auth users` printed nothing and exited 0."""
    import os

    got = subprocess.run(
        [sys.executable, "-m", "riskwarn.stream.auth", "users"],
        env={**os.environ, "RISKWARN_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 1
    assert "no MQTT passwords file" in got.stderr and "mqtt_passwords.json" in got.stderr


def test_services_wait_port_names_mqtt_for_the_broker() -> None:
    """S11: `services.sh up` said 'mosquitto answers on http://...' for an MQTT broker."""
    script = (ROOT / "scripts" / "services.sh").read_text()
    start = script.index("wait_port() {")
    body = script[start : script.index("\n}\n", start) + 3]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        run = f"PY={sys.executable}\nsupervised() {{ return 0; }}\n{body}\n"
        out = {
            name: subprocess.run(
                ["bash", "-c", run + f"wait_port {name} {port}"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()
            for name in ("mosquitto", "dashboard")
        }
    assert out["mosquitto"] == f"mosquitto answers on mqtt://127.0.0.1:{port}"
    assert out["dashboard"] == f"dashboard answers on http://127.0.0.1:{port}"
