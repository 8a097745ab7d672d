"""Helpers of the streaming tests and bench: a private Mosquitto broker, synthetic
slope readings, local SMTP and webhook receivers."""

from __future__ import annotations

import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SIM_MAPPING = (
    Path(__file__).resolve().parents[1] / "configs" / "sources" / "sim_sensor_readings.yaml"
)


def stream_consumer(
    home: Path,
    port: int,
    *,
    store_url: str,
    lake_dir: Path | None = None,
    client_id: str = "rw-test",
    **kw: Any,
) -> Any:
    """The stream tests' consumer: the simulated city's source on the broker at ``port``,
    ``home``'s lake (unless ``lake_dir``) and status file, 0.3 s micro-batches; ``kw`` goes
    to :class:`riskwarn.stream.consumer.StreamConfig`."""
    from riskwarn.sources import load_mapping
    from riskwarn.stream.consumer import StreamConfig, StreamConsumer

    cfg = StreamConfig(
        mapping=load_mapping(SIM_MAPPING),
        lake_dir=lake_dir or home / "lake",
        store_url=store_url,
        status_path=home / "run" / "stream.status.json",
        port=port,
        client_id=client_id,
        **{"batch_s": 0.3, **kw},
    )
    return StreamConsumer(cfg)


class Running:
    """``with Running(consumer) as c``: the consumer's loop in a thread, connected."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.thread = threading.Thread(target=consumer.run, daemon=True)

    def __enter__(self) -> Any:
        self.thread.start()
        wait_for(lambda: self.consumer.counters.connected, 10)
        return self.consumer

    def __exit__(self, *exc: object) -> None:
        self.consumer.stop()
        self.thread.join(20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port}")


class Broker:
    """A Mosquitto broker of its own (persistent sessions kept on disk across restarts).

    ``auth=True``: riskwarn's own configuration (:func:`riskwarn.stream.auth.render_conf`,
    what ``scripts/services.sh`` starts): no anonymous client, the accounts ``stream``
    (reads the reading topics) and ``gateway`` (publishes to them) with passwords in
    ``<dir>/home/secrets/mqtt_passwords.json``; :meth:`login` gives a role's
    ``username``/``password`` (keywords of ``StreamConfig`` and
    ``riskwarn.stream.replay.connect``), :meth:`env` the same as ``RISKWARN_MQTT_*``
    variables for a ``riskwarn stream`` process; ``gateways`` adds gateway accounts (as
    ``add-gateway``). Started, it writes its pid to ``<home>/run/mosquitto.pid`` as
    ``scripts/services.sh`` does, so ``python -m riskwarn.stream.auth rotate`` with
    ``RISKWARN_HOME=<home>`` reloads it. ``auth=False``: anonymous clients."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        auth: bool = False,
        gateways: tuple[str, ...] = (),
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.auth = auth
        self.home = self.dir / "home"  # the broker's accounts (auth)
        if auth:
            from riskwarn.stream.auth import ensure_passwords, render_conf

            ensure_passwords(self.home, gateways)
            text = render_conf(self.home, self.port, self.dir, autosave_s=1)
            self.conf.write_text(text + f"user {getpass.getuser()}\n")
        else:
            self.conf.write_text(
                f"listener {self.port} 127.0.0.1\n"
                "allow_anonymous true\n"
                f"user {getpass.getuser()}\n"
                "persistence true\n"
                f"persistence_location {self.dir}/\n"
                "autosave_interval 1\n"
                "max_inflight_messages 0\n"
                "max_queued_messages 0\n"
                f"log_dest file {self.dir}/mosquitto.log\n"
            )
        self.proc: subprocess.Popen[bytes] | None = None

    def login(self, role: str) -> dict[str, Any]:
        """``username``/``password`` of the account ``role`` (``stream``, ``gateway``);
        {} without auth."""
        if not self.auth:
            return {}
        from riskwarn.stream.auth import read_passwords

        return {"username": role, "password": read_passwords(self.home)[role]}

    def env(self, role: str) -> dict[str, str]:
        """The variables a process signs in with as ``role``: ``RISKWARN_MQTT_USER`` /
        ``_PASSWORD`` for the consumer (``stream``), ``RISKWARN_MQTT_GATEWAY_USER`` /
        ``_PASSWORD`` for a publisher; {} without auth."""
        got = self.login(role)
        if not got:
            return {}
        prefix = "RISKWARN_MQTT" if role == "stream" else "RISKWARN_MQTT_GATEWAY"
        return {f"{prefix}_USER": got["username"], f"{prefix}_PASSWORD": got["password"]}

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)])
        wait_port(self.port)
        if self.auth:
            run = self.home / "run"
            run.mkdir(parents=True, exist_ok=True)
            (run / "mosquitto.pid").write_text(f"{self.proc.pid}\n")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def slope_readings(
    sensor_id: str,
    *,
    start: pd.Timestamp,
    steady_days: float = 14.0,
    failure_after_days: float = 18.0,
    step: str = "1h",
    v0: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """Cumulative displacement of a slope: steady creep ``v0`` mm/day, then Fukuzono
    acceleration (1/v falling linearly to 0 at the failure); readings up to the failure."""
    rng = np.random.default_rng(seed)
    t = pd.date_range(
        start, start + pd.Timedelta(days=failure_after_days), freq=step, inclusive="left"
    )
    days = (t - start).total_seconds().to_numpy() / 86400.0
    tf, ts = failure_after_days, steady_days
    v = np.where(days < ts, v0, v0 * (tf - ts) / np.maximum(tf - days, 1e-3))
    dt = np.diff(days, prepend=days[0])
    disp = np.cumsum(v * dt) + rng.normal(0, 0.01, len(days))
    return pd.DataFrame(
        {
            "sensor_id": sensor_id,
            "observed_at": t,
            "interval_s": int(pd.Timedelta(step).total_seconds()),
            "quantity": "displacement_mm",
            "value": disp.round(3),
            "quality": "good",
        }
    )


def stream_levels(
    readings: pd.DataFrame, sites: dict[str, str | None]
) -> dict[pd.Timestamp, tuple[int, int]]:
    """Step end -> (served level, rules' level) of the one site of ``readings``, fed to
    the stream's state hour by hour as the consumer receives them (no site model, the
    stream's hysteresis): what the stream tests' slopes read at each hour, so that a test
    pinning "red at step T" can check T from the data (tests/test_stream.py,
    tests/test_stream_crash.py)."""
    from riskwarn.stream.state import SensorStates

    st = SensorStates()
    out = {}
    for _, part in readings.groupby(readings["observed_at"].dt.floor("1h")):
        for levels in st.evaluate_within(st.due(st.add(part, sites)), float("inf")):
            for lv in levels.values():
                out[lv.observed_to] = (lv.level_rank, lv.raw_rank)
    return out


class Webhook:
    """A local HTTP server that records every POST (headers and body)."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.times: list[float] = []  # time.time() of each received POST
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.status == 200:
                    outer.received.append((dict(self.headers), body))
                    outer.times.append(time.time())
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(b) for _, b in self.received]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, list[Any]]]:
    """A local aiosmtpd server; yields (port, received envelopes)."""
    from aiosmtpd.controller import Controller

    got: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            got.append(envelope)
            return "250 OK"

    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield port, got
    finally:
        ctl.stop()


def wait_for(cond: Any, timeout: float = 30.0, every: float = 0.1) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(every)
    raise TimeoutError("condition not met in time")


class TcpProxy:
    """A TCP forwarder 127.0.0.1:<port> -> 127.0.0.1:<target> that can be stopped (the
    listener closed and every open connection cut: clients see the server vanish, as
    on a network or server outage) and started again on the same port. Used to take a
    PostgreSQL database away from the consumer without touching the shared server."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target = target_port
        self.port = port or free_port()
        self.listener: socket.socket | None = None
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def stop(self) -> None:
        ls, self.listener = self.listener, None
        if ls is not None:
            with contextlib.suppress(OSError):
                ls.shutdown(socket.SHUT_RDWR)
            ls.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                if self.listener is not ls:  # stopped meanwhile
                    client.close()
                    upstream.close()
                    return
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class SiteLogitModel:
    """A transparent hourly site model for the stream's tests and bench: the failure
    probability rises steeply with the displacement velocity (0.2 % at 0.2 mm/day of
    creep, 12 % at 0.55, 50 % at 0.7) and with the 24 h rain at the site's gauge (50 %
    at 60 mm), one minus the product of the two complements. An MLflow ``PythonModel``
    (built on first use: mlflow is imported only where a model is registered)."""

    @staticmethod
    def probability(frame: pd.DataFrame) -> np.ndarray:
        v = np.nan_to_num(frame["velocity_mm_per_day"].to_numpy(float), nan=0.0)
        rain = np.nan_to_num(frame["rain_24h_mm"].to_numpy(float), nan=0.0)
        pv = 1.0 / (1.0 + np.exp(-(-8.4 + 12.0 * v)))
        pr = 1.0 / (1.0 + np.exp(-(rain - 60.0) / 8.0))
        return 1.0 - (1.0 - pv) * (1.0 - pr)


def register_site_model(tracking_uri: str, artifacts: str) -> str:
    """Register :class:`SiteLogitModel` as ``riskwarn-geohazard_hourly`` and point the
    champion alias at it (record it in a store with
    ``scripts.check_champion.adopt_champion``); returns the version."""
    import mlflow
    from mlflow.pyfunc import PythonModel

    from models.registry import TRAINED_THROUGH_TAG, model_name

    class _Model(PythonModel):
        features: ClassVar[list[str]] = ["velocity_mm_per_day", "rain_24h_mm"]

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            p = SiteLogitModel.probability(model_input)
            return pd.DataFrame({"probability": p}, index=model_input.index)

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    domain = "geohazard_hourly"
    exp = mlflow.create_experiment(f"test-stream-{domain}", artifact_location=artifacts)
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_Model(),
            registered_model_name=model_name(domain),
            pip_requirements=["mlflow"],
        )
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = str(info.registered_model_version)
    # its rule is fixed (it learned from no data): every origin is out of sample for it
    client.set_model_version_tag(
        model_name(domain), version, TRAINED_THROUGH_TAG, "2000-01-01T00:00:00+00:00"
    )
    client.set_registered_model_alias(model_name(domain), "champion", version)
    return version


def displacement_message(
    sensor: str, at: Any, value: float = 1.0, site: str | None = "H1", city: str = "simcity"
) -> Any:
    """One streamed displacement reading of ``sensor`` at ``at`` (a datetime) on the topic
    of ``site`` (None: the topic's no-site level), as a gateway sends it."""
    from riskwarn.stream.payload import topic_for
    from riskwarn.stream.validate import Message

    body = {
        "sensor_id": sensor,
        "observed_at": at.isoformat(),
        "quantity": "displacement_mm",
        "value": value,
        "interval_s": 600,
        "quality": "good",
    }
    return Message(topic_for(city, site, sensor), json.dumps(body).encode())
