"""Sign-in and topic rights on riskwarn's MQTT broker (Mosquitto; docs/streaming.md).

The broker ``scripts/services.sh`` starts takes no anonymous client
(``allow_anonymous false``): every client signs in with a user name and password, and
an ACL file gives each account only what it needs:

* ``stream``, the consumer (``riskwarn stream``): may only **read** (subscribe to) the
  reading topics ``riskwarn/v1/readings/<source>/<site>/<sensor>``; it publishes
  nothing over MQTT (acknowledgements are QoS-1 PUBACKs, not messages; warnings and
  acks go through the serving store).
* every other account in the passwords file is a sensor gateway: ``gateway`` (created
  by default; ``riskwarn stream replay`` and the bench publish with it) and those
  added with ``python -m riskwarn.stream.auth add-gateway NAME``. A gateway may only
  **write** (publish to) the reading topics; it cannot subscribe to or read them, nor
  publish anywhere else.

The passwords are random (``secrets.token_urlsafe``) and kept, like the other
services' (:mod:`riskwarn.service_auth`), in ``<home>/secrets/mqtt_passwords.json``
(mode 0600, ``{"user": "password"}``). Mosquitto gets only their hashes:
:func:`write_broker_files` writes ``<home>/secrets/mosquitto.passwd`` (0600) with
``/usr/bin/mosquitto_passwd -U`` (which hashes a ``user:password`` file in place, so no
password is ever on a command line) and ``<home>/secrets/mosquitto.acl``, and
:func:`render_conf` the broker's configuration from ``scripts/mosquitto.conf.in``.

The broker takes each client's id from its account (``use_username_as_clientid true``):
no account can connect with the consumer's client id and take its persistent session
(wipe its queued readings, or keep kicking it off). Two clients signed in as one account
at the same time are one client to the broker: the newer connection closes the older
(give every gateway its own account).

The consumer finds its password in ``RISKWARN_MQTT_PASSWORD`` (with
``RISKWARN_MQTT_USER``; settings ``mqtt_password`` / ``mqtt_user``), publishers (``riskwarn
stream replay``, the bench) theirs in ``RISKWARN_MQTT_GATEWAY_PASSWORD`` (with
``RISKWARN_MQTT_GATEWAY_USER``), each else in the passwords file of ``RISKWARN_HOME``
(:func:`client_credentials`). ``rotate``, ``add-gateway`` and ``reload`` rewrite the
broker files and make the broker riskwarn started re-read them (SIGHUP to the pid in
``<home>/run/mosquitto.pid``, :func:`reload_broker`): no restart.

Not covered: the listener has no TLS (it is on 127.0.0.1; a gateway on another host
would send its password in clear: put the listener behind TLS first, see
docs/security.md), and a gateway may publish for any source, site and sensor (no
per-gateway topic limits).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskwarn.filemodes import FILE_MODE, others_can_access, private_dir, write_private_file
from riskwarn.stream.payload import TOPIC_ROOT

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

    from riskwarn.settings import Settings

log = logging.getLogger(__name__)

CONSUMER_USER = "stream"
GATEWAY_USER = "gateway"
READINGS_TOPICS = f"{TOPIC_ROOT}/+/+/+"  # <source>/<site>/<sensor>, nothing else
MOSQUITTO_PASSWD = os.environ.get("MOSQUITTO_PASSWD") or (
    shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
)
TEMPLATE = Path(__file__).resolve().parents[2] / "scripts" / "mosquitto.conf.in"
_SAFE_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def secrets_dir(home: Path) -> Path:
    return Path(home).resolve() / "secrets"


def passwords_file(home: Path) -> Path:
    return secrets_dir(home) / "mqtt_passwords.json"


def passwd_file(home: Path) -> Path:
    return secrets_dir(home) / "mosquitto.passwd"


def acl_file(home: Path) -> Path:
    return secrets_dir(home) / "mosquitto.acl"


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``<secrets>/.mqtt.lock`` around a read-modify-write of the
    passwords file and the broker files (two ``services.sh up`` or an ``add-gateway``
    beside a broker start would otherwise lose an account or mix files)."""
    folder = private_dir(secrets_dir(home))
    fd = os.open(folder / ".mqtt.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _check_name(user: str) -> str:
    if not user or not set(user) <= _SAFE_NAME or len(user) > 64:
        raise ValueError(f"{user!r} is not an account name (letters, digits, - _ . only)")
    return user


def read_passwords(home: Path) -> dict[str, str]:
    return load_passwords(passwords_file(home))


def load_passwords(path: Path) -> dict[str, str]:
    """``{"user": "password"}`` of a passwords file ({} if it does not exist)."""
    return dict(json.loads(path.read_text())) if path.exists() else {}


def broker_pid_file(home: Path) -> Path:
    """Where ``scripts/services.sh`` keeps the pid of the broker it started."""
    return Path(home).resolve() / "run" / "mosquitto.pid"


def _broker_pid(home: Path) -> int | None:
    """The pid of the Mosquitto riskwarn started for ``home`` (None: none runs; a pid
    file left behind whose pid now names another program does not count).

    The process must be ``mosquitto`` itself (not ``mosquitto_sub`` or another
    ``mosquitto*`` tool, which SIGHUP would kill) started with ``-c CONF`` whose
    ``password_file`` is this home's (not another home's broker)."""
    try:
        pid = int(broker_pid_file(home).read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        args = [a.decode(errors="replace") for a in argv]
        if Path(args[0]).name != "mosquitto" or "-c" not in args[:-1]:
            return None
        conf = Path(f"/proc/{pid}/cwd") / args[args.index("-c") + 1]
        lines = {line.strip() for line in conf.read_text(errors="replace").splitlines()}
    except (OSError, ValueError, IndexError):
        return None
    return pid if f"password_file {passwd_file(home)}" in lines else None


def reload_broker(home: Path) -> str:
    """Rewrite the broker files from the passwords file and make the broker riskwarn
    started for ``home`` re-read them (Mosquitto reloads its configuration, password
    file and ACL on SIGHUP; a connected client whose password no longer matches is
    disconnected and must sign in again). Returns one line saying what was done."""
    write_broker_files(home)
    pid = _broker_pid(home)
    if pid is None:
        return (
            f"no broker started by riskwarn runs for this home ({broker_pid_file(home)}): "
            "the broker reads the accounts at its next start (scripts/services.sh up "
            "mosquitto); a broker riskwarn did not start must be given them by its operator"
        )
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise RuntimeError(
            f"cannot signal the broker (pid {pid}) to reload its accounts: {exc.strerror}; "
            "restart it (scripts/services.sh down mosquitto && scripts/services.sh up mosquitto)"
        ) from None
    return f"the broker (pid {pid}) re-reads its password file and ACL (SIGHUP): no restart"


def _write_passwords(home: Path, passwords: dict[str, str]) -> None:
    write_private_file(passwords_file(home), (json.dumps(passwords, indent=1) + "\n").encode())


def ensure_passwords(home: Path, users: tuple[str, ...] = ()) -> dict[str, str]:
    """The accounts' passwords; random ones are added (file 0600) for the consumer, the
    default gateway and ``users`` when missing."""
    with _locked(home):
        return _ensure_passwords(home, users)


def _ensure_passwords(home: Path, users: tuple[str, ...] = ()) -> dict[str, str]:
    path = passwords_file(home)
    if path.exists() and others_can_access(path):  # plaintext passwords: never shared
        log.warning("%s was open to other users; made it 0600", path)
        path.chmod(FILE_MODE)
    passwords = read_passwords(home)
    missing = [
        _check_name(u) for u in (CONSUMER_USER, GATEWAY_USER, *users) if not passwords.get(u)
    ]
    if missing:
        passwords.update({u: secrets.token_urlsafe(18) for u in missing})
        _write_passwords(home, passwords)
    return passwords


def rotate(home: Path, user: str) -> str:
    """A new random password for ``user`` (an existing account); returns it."""
    with _locked(home):
        passwords = _ensure_passwords(home)
        if user not in passwords:
            raise KeyError(f"no MQTT account {user!r} in {passwords_file(home)}")
        passwords[user] = secrets.token_urlsafe(18)
        _write_passwords(home, passwords)
        return passwords[user]


def acl_text(users: list[str]) -> str:
    """The ACL: the consumer reads the reading topics, every other account writes them."""
    lines = [
        "# riskwarn: topic rights on its MQTT broker (riskwarn.stream.auth, at each start)",
        f"user {CONSUMER_USER}",
        f"topic read {READINGS_TOPICS}",
        "",
    ]
    for user in sorted(u for u in users if u != CONSUMER_USER):
        lines += [f"user {_check_name(user)}", f"topic write {READINGS_TOPICS}", ""]
    return "\n".join(lines)


def write_broker_files(home: Path) -> tuple[Path, Path]:
    """Write Mosquitto's password file (hashed by ``mosquitto_passwd -U``) and ACL file
    from the passwords file (accounts created when missing); returns their paths."""
    with _locked(home):
        passwords = _ensure_passwords(home)
        hashed, acl = passwd_file(home), acl_file(home)
        plain = "".join(f"{_check_name(u)}:{p}\n" for u, p in sorted(passwords.items()))
        # a file of its own (mkstemp: 0600), and mosquitto_passwd under umask 077: -U
        # writes a plaintext backup "<file>.tmp" with the umask's mode
        fd, name = tempfile.mkstemp(prefix=".mosquitto.passwd.", dir=hashed.parent)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(plain)
            if not Path(MOSQUITTO_PASSWD).is_file():
                raise RuntimeError(
                    f"{MOSQUITTO_PASSWD} not found: install mosquitto (Debian: the mosquitto "
                    "package) or set MOSQUITTO_PASSWD"
                )
            done = subprocess.run(
                [MOSQUITTO_PASSWD, "-U", str(tmp)],
                capture_output=True,
                text=True,
                timeout=60,
                umask=0o077,
            )
            if done.returncode != 0 or ":$7$" not in tmp.read_text():
                raise RuntimeError(
                    f"{MOSQUITTO_PASSWD} -U failed (exit {done.returncode}): "
                    f"{(done.stderr or done.stdout).strip()[:200]}"
                )
            tmp.replace(hashed)
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".tmp").unlink(missing_ok=True)
        write_private_file(acl, acl_text(list(passwords)).encode())
        return hashed, acl


def render_conf(
    home: Path, port: int, data_dir: Path, *, autosave_s: int = 10, template: Path = TEMPLATE
) -> str:
    """Mosquitto's configuration from ``scripts/mosquitto.conf.in`` (the broker files are
    written first)."""
    hashed, acl = write_broker_files(home)
    text = template.read_text()
    for key, value in {
        "@PORT@": str(int(port)),
        "@DATA@": str(data_dir),
        "@PASSWORD_FILE@": str(hashed),
        "@ACL_FILE@": str(acl),
        "@AUTOSAVE@": str(int(autosave_s)),
    }.items():
        text = text.replace(key, value)
    return text


class BrokerRefused(RuntimeError):
    """The broker refused a client's sign-in (its CONNACK reason, one line)."""


class BrokerUnreachable(BrokerRefused, ConnectionError):
    """Nothing answers at the broker's address (connection refused, no route, time-out):
    one line naming it. Also an ``OSError``, as the socket error it replaces."""


def unreachable_text(host: str, port: int, exc: OSError) -> str:
    """One line: nothing answers at ``host:port``, and how to point riskwarn at a broker."""
    why = exc.strerror or str(exc) or type(exc).__name__
    return (
        f"cannot reach the MQTT broker at {host}:{port}: {why} (start it: scripts/services.sh "
        "up mosquitto; the port comes from --port, else RISKWARN_MQTT_PORT, else 1884)"
    )


def client_credentials(settings: Settings, role: str) -> tuple[str, str | None]:
    """User and password a client of ``role`` signs in with.

    The consumer (``role`` ``stream``): ``settings.mqtt_user`` (``RISKWARN_MQTT_USER``,
    default ``stream``) and ``settings.mqtt_password`` (``RISKWARN_MQTT_PASSWORD``).
    A publisher (``role`` ``gateway``): ``settings.mqtt_gateway_user``
    (``RISKWARN_MQTT_GATEWAY_USER``, default ``gateway``) and
    ``settings.mqtt_gateway_password`` (``RISKWARN_MQTT_GATEWAY_PASSWORD``); the
    consumer's variables are not used for publishing (before, both roles shared them and
    a replay run as ``stream`` had every reading dropped), and a note says so when only
    they are set. Without a password setting: that user's password in
    ``<home>/secrets/mqtt_passwords.json``; None if neither has one (the client then signs
    in without a password and the broker refuses it)."""
    if role == CONSUMER_USER:
        user = settings.mqtt_user or role
        password = settings.mqtt_password or None
    else:
        user = settings.mqtt_gateway_user or role
        password = settings.mqtt_gateway_password or None
        if (settings.mqtt_user or settings.mqtt_password) and not (
            settings.mqtt_gateway_user or settings.mqtt_gateway_password
        ):
            log.warning(
                "RISKWARN_MQTT_USER / RISKWARN_MQTT_PASSWORD are the consumer's account; "
                "publishing signs in as %r (RISKWARN_MQTT_GATEWAY_USER / "
                "RISKWARN_MQTT_GATEWAY_PASSWORD, else the passwords file)",
                user,
            )
    if password is None:
        try:
            password = read_passwords(settings.home).get(user)
        except (OSError, ValueError, TypeError) as exc:  # unreadable or not {"user": "pw"}
            import click

            raise click.ClickException(
                f"cannot read the MQTT passwords file {passwords_file(settings.home)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return user, password


# CONNACK reasons that no retry cures (MQTT 3.1.1 return codes 4 and 5 as paho's MQTT 5
# reason codes; 140: bad authentication method)
SIGN_IN_REFUSED = frozenset({134, 135, 140})


def sign_in_refused(reason: object) -> bool:
    """A CONNACK reason that says the credentials are wrong or missing."""
    return getattr(reason, "value", None) in SIGN_IN_REFUSED


def password_hint(home: Path, role: str = CONSUMER_USER) -> str:
    variable = (
        "RISKWARN_MQTT_PASSWORD" if role == CONSUMER_USER else "RISKWARN_MQTT_GATEWAY_PASSWORD"
    )
    return f"{variable} or {passwords_file(home)}"


def refusal_text(host: str, port: int, user: str | None, reason: object, hint: str) -> str:
    """One line: who was refused by which broker, why, and where the password comes from."""
    who = f"as {user!r}" if user else "without a user name"
    source = f"password from {hint}" if hint else "no password given"
    return (
        f"MQTT broker {host}:{port} refused the sign-in {who}: {reason} "
        f"({source}; docs/streaming.md)"
    )


def open_client(
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
    client_id: str = "",
    v5: bool = False,
    timeout_s: float = 10.0,
    prepare: Callable[[mqtt.Client], None] | None = None,
) -> tuple[mqtt.Client, Any]:
    """Connect a paho client (MQTT 3.1.1, or 5 with ``v5``), start its network loop and
    wait for the broker's CONNACK: returns the client and the CONNACK reason (a paho
    ``ReasonCode``; None: no answer within ``timeout_s``). ``prepare`` sets the client up
    before it connects. The client runs either way: :func:`close_client` it. Raises
    ``OSError`` if nothing takes the TCP connection. The one place riskwarn waits for a
    sign-in (publishers, the broker probe, the tests)."""
    import threading

    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if prepare is not None:
        prepare(client)
    answered = threading.Event()
    reason: list[Any] = []

    def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        if not answered.is_set():
            reason.append(rc)
            answered.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise BrokerUnreachable(unreachable_text(host, port, exc)) from None
    client.loop_start()
    answered.wait(timeout_s)
    client.on_connect = None
    return client, (reason[0] if reason else None)


def close_client(client: mqtt.Client) -> None:
    client.loop_stop()
    client.disconnect()


def anonymous_accepted(host: str, port: int, timeout_s: float = 10.0) -> bool | None:
    """Whether the broker at ``host:port`` lets a client in without a user name (None:
    no answer): ``scripts/services.sh`` refuses a broker it did not start that is open to
    anyone, even with ``RISKWARN_MQTT_EXTERNAL=1``."""
    try:
        client, reason = open_client(host, port, timeout_s=timeout_s)
    except OSError:
        return None
    close_client(client)
    return None if reason is None else not reason.is_failure


def _main(argv: list[str]) -> int:
    from riskwarn.filemodes import restrict_umask
    from riskwarn.settings import load_settings

    restrict_umask()
    home = load_settings().home
    usage = (
        "usage: python -m riskwarn.stream.auth conf PORT DATA_DIR | add-gateway NAME | "
        "rotate NAME | reload | users | probe PORT [WAIT_S]"
    )
    try:
        return _run(argv, home, usage)
    except (KeyError, ValueError, RuntimeError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


def _run(argv: list[str], home: Path, usage: str) -> int:
    if len(argv) in (2, 3) and argv[0] == "probe":  # services.sh: a broker it did not start
        wait_s = float(argv[2]) if len(argv) == 3 else 10.0  # RISKWARN_MQTT_PROBE_WAIT_S
        accepted = anonymous_accepted("127.0.0.1", int(argv[1]), timeout_s=wait_s)
        if accepted is None:
            print(
                f"error: no MQTT answer on 127.0.0.1:{argv[1]} within {wait_s:g} s", file=sys.stderr
            )
            return 1
        if accepted:
            print(
                f"WARNING: the MQTT broker already answering on 127.0.0.1:{argv[1]} (not started "
                "by riskwarn) accepts anonymous clients: any account on the host can publish "
                "readings to it or read them. Give it accounts and an ACL (docs/streaming.md) or "
                "set RISKWARN_MQTT_PORT to a free port to run riskwarn's own broker.",
                file=sys.stderr,
            )
            return 1
        return 0
    if len(argv) == 3 and argv[0] == "conf":  # scripts/services.sh
        sys.stdout.write(render_conf(home, int(argv[1]), Path(argv[2])))
        return 0
    if len(argv) == 2 and argv[0] == "add-gateway":
        if argv[1] == CONSUMER_USER:
            raise ValueError(
                f"{CONSUMER_USER!r} is the consumer's (reading) account, not a gateway: "
                "choose another name"
            )
        ensure_passwords(home, (argv[1],))
        print(f"account {argv[1]!r}: password in {passwords_file(home)}; {reload_broker(home)}")
        return 0
    if len(argv) == 2 and argv[0] == "rotate":
        rotate(home, argv[1])
        print(
            f"new password for {argv[1]!r} in {passwords_file(home)}; {reload_broker(home)}. "
            + (
                "The consumer re-reads it from that file when the broker refuses the old one."
                if argv[1] == CONSUMER_USER
                else "Give it to every client that signs in as that account."
            )
        )
        return 0
    if argv == ["reload"]:  # after removing an account from the passwords file by hand
        print(reload_broker(home))
        return 0
    if argv == ["users"]:
        if not passwords_file(home).exists():
            print(
                f"error: no MQTT passwords file {passwords_file(home)} yet: it is created at "
                "the broker's first start (scripts/services.sh up mosquitto; RISKWARN_HOME "
                "must be the home the broker runs for)",
                file=sys.stderr,
            )
            return 1
        for user in sorted(read_passwords(home)):
            role = "consumer (read)" if user == CONSUMER_USER else "gateway (write)"
            print(f"{user}\t{role}")
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":  # python -m riskwarn.stream.auth ...
    sys.exit(_main(sys.argv[1:]))
