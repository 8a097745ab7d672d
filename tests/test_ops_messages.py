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


def test_a_user_added_as_docs_security_says_can_sign_in(tmp_path: Path) -> None:
    """Doc1: the users file format and `python -m dashboard.auth hash` (docs/security.md)
    make a user the dashboard accepts; nothing documented it before."""
    import re

    import yaml

    from dashboard import auth

    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(users:.*?)```", doc, re.S)
    assert example is not None
    got = subprocess.run(
        [sys.executable, "-m", "dashboard.auth", "hash"],
        input="s3cret-pass\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert got.returncode == 0 and "s3cret" not in got.stdout
    hashed = got.stdout.strip()
    text = re.sub(r"scrypt\$.*", lambda _: hashed, example.group(1))
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    users = auth.load_users(path)
    entry = users["users"]["wang.li"]
    assert entry["role"] in auth.ROLES
    assert auth.verify_password("s3cret-pass", entry["password_hash"])
    assert not auth.verify_password("wrong", entry["password_hash"])
    assert yaml.safe_load(text)["oidc_roles"]["wang.li@city.example"] == "reviewer"


def test_stream_help_does_not_claim_a_fixed_client_id_session() -> None:
    """Doc4: --client-id said 'Fixed: the broker keeps this client's session' while the
    broker riskwarn starts uses the account name as client id."""
    from click.testing import CliRunner

    from riskwarn.commands.stream import stream

    out = CliRunner().invoke(stream, ["--help"], terminal_width=200).output
    assert "Fixed: the broker keeps this client's session" not in out
    assert "use_username_as_clientid" in out
