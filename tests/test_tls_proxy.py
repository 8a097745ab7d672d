"""TLS on an intranet (issue 13.15): the reverse-proxy configuration shipped in
docs/operations.md is valid nginx, terminates TLS for the three services and forwards
only to 127.0.0.1.

``nginx -t`` checks the documented block as it is (wrapped in an ``http`` context, with
a throw-away self-signed certificate in place of the city's); skipped where nginx or
openssl is not installed (Debian: ``apt-get install nginx-light``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def documented_config() -> str:
    """The ```nginx block of docs/operations.md's "TLS on an intranet"."""
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### TLS on an intranet") :]
    return re.search(r"```nginx\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_documented_proxy_only_forwards_to_this_host_over_tls() -> None:
    conf = documented_config()
    upstreams = re.findall(r"proxy_pass\s+(\S+);", conf)
    assert sorted(upstreams) == [
        "http://127.0.0.1:5000",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8501",
    ]
    servers = conf.split("server {")[1:]
    plain = [s for s in servers if re.search(r"listen 80;", s)]
    assert len(plain) == 1 and "return 301 https://" in plain[0]  # port 80 only redirects
    assert all("listen 443 ssl" in s for s in servers if s not in plain)
    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", conf)
    assert "Strict-Transport-Security" in conf
    assert "Upgrade $http_upgrade" in conf  # Streamlit's WebSocket


@pytest.mark.skipif(NGINX is None or shutil.which("openssl") is None, reason="no nginx/openssl")
def test_the_documented_proxy_configuration_passes_nginx_t(tmp_path: Path) -> None:
    crt, key = tmp_path / "riskwarn.crt", tmp_path / "riskwarn.key"
    req = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*req, "-subj", "/CN=riskwarn.city.local", "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )
    conf = documented_config()
    conf = conf.replace("/etc/ssl/city/riskwarn.crt", str(crt))
    conf = conf.replace("/etc/ssl/private/riskwarn.key", str(key))
    for d in ("logs", "tmp"):
        (tmp_path / d).mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n"
        "events {}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {tmp_path}/tmp;\n{conf}\n}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(NGINX), "-t", "-q", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
