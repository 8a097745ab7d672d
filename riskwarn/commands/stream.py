"""``riskwarn stream``: real-time sensor readings over MQTT (docs/streaming.md)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import click

# the simulator's mapping, shipped in the repo (configs/sources): found from any folder
# (a relative default was read from the working folder: a traceback outside the repo)
_SOURCES = Path(__file__).resolve().parents[2] / "configs" / "sources"
DEFAULT_SOURCE = str(_SOURCES / "sim_sensor_readings.yaml")
DEFAULT_SENSORS_SOURCE = str(_SOURCES / "sim_sensors.yaml")


def _status_path() -> Path:
    from riskwarn.settings import load_settings

    return load_settings().home / "run" / "stream.status.json"


@click.group(invoke_without_command=True)
@click.option(
    "--source",
    "source",
    default=DEFAULT_SOURCE,
    show_default="configs/sources/sim_sensor_readings.yaml of the repo",
    help="Mapping file of the readings' source.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=1884,
    show_default=True,
    type=int,
    envvar="RISKWARN_MQTT_PORT",
    show_envvar=True,
    help="The broker's port (as scripts/services.sh: RISKWARN_MQTT_PORT; --port wins).",
)
@click.option(
    "--connect-wait-s",
    default=30.0,
    show_default=True,
    type=float,
    help="At start, how long the consumer waits for the broker to answer before it exits "
    "(exit 2, one line); once connected it reconnects on its own.",
)
@click.option(
    "--user",
    "mqtt_user",
    help="The consumer's broker account (default: RISKWARN_MQTT_USER, else 'stream'), its "
    "password from RISKWARN_MQTT_PASSWORD or <home>/secrets/mqtt_passwords.json. Before "
    "`replay` (old form): the publishing account, as replay's own --user.",
)
@click.option(
    "--client-id",
    default="riskwarn-stream",
    show_default=True,
    help="Client id sent to the broker. riskwarn's own broker ignores it "
    "(use_username_as_clientid): the session is the account's, 'stream'. It names the "
    "session only on a broker riskwarn did not start.",
)
@click.option(
    "--contacts",
    type=click.Path(exists=True, dir_okay=False),
    help="Contacts file: deliver orange/red changes.",
)
@click.option(
    "--batch-s", default=0.5, show_default=True, type=float, help="Longest wait for a micro-batch."
)
@click.option(
    "--metrics", type=click.Path(dir_okay=False), help="Append latency lines here (benchmarks)."
)
@click.option(
    "--lower-after-steps",
    default=6,
    show_default=True,
    type=int,
    help="Hysteresis: lower a level after this many hourly evaluations below it.",
)
@click.option(
    "--confirm-steps",
    default=2,
    show_default=True,
    type=int,
    help="Show a raise to blue/yellow after this many hourly evaluations (orange/red: at once).",
)
@click.option(
    "--model-every-s",
    default=60.0,
    show_default=True,
    type=float,
    help="Score a site with the champion site model at most this often (catching up).",
)
@click.option(
    "--replay-max-hours",
    default=168.0,
    show_default=True,
    type=float,
    help="After a restart, evaluate again at most this many hours of steps per site.",
)
@click.option(
    "--clock-skew-s",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Accept a reading whose time is at most this many seconds after the consumer's "
    "clock (a device clock ahead); later ones are quarantined future_timestamp.",
)
@click.option(
    "--no-model", is_flag=True, help="Sensor rules only (do not load the champion site model)."
)
@click.option("--status", is_flag=True, help="Print the running consumer's status in one line.")
@click.pass_context
def stream(
    ctx: click.Context,
    source: str,
    host: str,
    port: int,
    connect_wait_s: float,
    mqtt_user: str | None,
    client_id: str,
    contacts: str | None,
    batch_s: float,
    metrics: str | None,
    lower_after_steps: int,
    confirm_steps: int,
    model_every_s: float,
    replay_max_hours: float,
    clock_skew_s: float,
    no_model: bool,
    status: bool,
) -> None:
    """Consume sensor readings from MQTT: validate, store, warn and deliver (until stopped)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"host": host, "port": port, "source": source, "user": mqtt_user}
        return
    if status:
        from riskwarn.stream.status import status_line

        click.echo(status_line(_status_path()))
        return
    from riskwarn.keys import pseudonym_key_for
    from riskwarn.serving_frames import serving_lookback_days
    from riskwarn.settings import load_settings
    from riskwarn.sources import MappingError, load_mapping
    from riskwarn.stream.auth import (
        CONSUMER_USER,
        client_credentials,
        password_hint,
        passwords_file,
        read_passwords,
    )
    from riskwarn.stream.consumer import StreamConfig, StreamConsumer
    from riskwarn.stream.delivery import ContactsError, load_config

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(mqtt_user=mqtt_user)
    try:
        mapping = load_mapping(source)
    except MappingError as exc:  # a missing or broken --source: one line
        raise click.ClickException(f"--source: {exc}") from None
    user, password = client_credentials(settings, CONSUMER_USER)
    if user != CONSUMER_USER and user in read_passwords(settings.home):
        # every other account of riskwarn's passwords file is a gateway: it may not read
        raise click.UsageError(
            f"{user!r} is a gateway (publishing) account of {passwords_file(settings.home)}: "
            f"it cannot read the readings; the consumer signs in as {CONSUMER_USER!r} "
            "(RISKWARN_MQTT_USER / --user; publishers use RISKWARN_MQTT_GATEWAY_USER)"
        )
    if mapping.table != "sensor_readings":
        raise click.UsageError(f"{source} maps {mapping.table}, not sensor_readings")
    try:  # a contacts file out of its types or ranges: one line, exit 2
        delivery = (
            load_config(contacts, settings.paging_lang, settings.display_tz) if contacts else None
        )
    except ContactsError as exc:
        raise click.ClickException(str(exc)) from None
    cfg = StreamConfig(
        mapping=mapping,
        lake_dir=settings.lake_dir,
        store_url=settings.resolved_store_url,
        status_path=_status_path(),
        host=host,
        port=port,
        client_id=client_id,
        username=user,
        password=password,
        password_from=password_hint(settings.home),
        # re-read when the broker refuses the password (rotated): not when it is given
        password_file=None if settings.mqtt_password else passwords_file(settings.home),
        batch_s=batch_s,
        delivery=delivery,
        metrics_path=Path(metrics) if metrics else None,
        pseudonym_key=pseudonym_key_for(settings, mapping),
        lower_after_steps=lower_after_steps,
        confirm_steps=confirm_steps,
        mlflow_uri=None if no_model else settings.resolved_mlflow_uri,
        model_every_s=model_every_s,
        replay_max_hours=replay_max_hours,
        clock_skew_s=clock_skew_s,
        tz=settings.display_tz,
    )
    if not no_model:  # the nowcast's read (refused below what the features look back)
        cfg.model_lookback_days = serving_lookback_days(settings)
    from riskwarn.stream.lock import AlreadyRunning, StoreTaken

    _wait_for_broker(host, port, connect_wait_s)
    try:
        consumer = StreamConsumer(cfg)
    except (AlreadyRunning, StoreTaken) as exc:
        raise click.ClickException(str(exc)) from None

    def _stop(*_: Any) -> None:
        consumer.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    consumer.run()
    if consumer.refused:  # wrong or missing credentials: one line, exit 2 (no retry loop)
        raise click.ClickException(consumer.refused)


def _wait_for_broker(host: str, port: int, wait_s: float) -> None:
    """Return once something answers at ``host:port`` (TCP); after ``wait_s`` seconds of
    refusals, one line and exit 2 (a consumer with no broker used to run silently)."""
    import socket
    import time

    from riskwarn.stream.auth import unreachable_text

    deadline = time.monotonic() + wait_s
    warned = False
    while True:
        try:
            socket.create_connection((host, port), timeout=5).close()
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise click.ClickException(unreachable_text(host, port, exc)) from None
            if not warned:
                logging.getLogger(__name__).warning(
                    "%s; waiting up to %.0f s", unreachable_text(host, port, exc), wait_s
                )
                warned = True
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


@stream.command()
@click.option(
    "--sim",
    "sim_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="A simulated city (riskwarn simulate --out).",
)
@click.option("--site", help="Replay only this site's sensors (e.g. a failing slope).")
@click.option("--start", help="First reading time (UTC, ISO).")
@click.option("--end", help="End of the readings (UTC, ISO, exclusive).")
@click.option(
    "--speed",
    default=0.0,
    show_default=True,
    type=float,
    help="Times real time (0: as fast as possible).",
)
@click.option(
    "--sensors-source",
    default=DEFAULT_SENSORS_SOURCE,
    show_default="configs/sources/sim_sensors.yaml of the repo",
)
@click.option(
    "--user",
    "gateway_user",
    help="Publishing (gateway) account (default: RISKWARN_MQTT_GATEWAY_USER, else 'gateway'); "
    "its password from RISKWARN_MQTT_GATEWAY_PASSWORD or <home>/secrets/mqtt_passwords.json.",
)
@click.pass_context
def replay(
    ctx: click.Context,
    sim_dir: str,
    site: str | None,
    start: str | None,
    end: str | None,
    speed: float,
    sensors_source: str,
    gateway_user: str | None,
) -> None:
    """Publish a simulated city's readings (or one site's) to the broker, QoS 1; counts
    only what the broker acknowledged (a refused reading: one line, exit 2)."""
    import pandas as pd

    from riskwarn.settings import load_settings
    from riskwarn.sources import MappingError
    from riskwarn.stream.auth import BrokerRefused
    from riskwarn.stream.replay import PublishRefused, replay_sim

    o = ctx.obj
    try:
        tally = replay_sim(
            Path(sim_dir),
            host=o["host"],
            port=o["port"],
            readings_mapping=Path(o["source"]),
            sensors_mapping=Path(sensors_source),
            site=site,
            start=pd.Timestamp(start, tz="UTC") if start else None,
            end=pd.Timestamp(end, tz="UTC") if end else None,
            speed=speed,
            settings=load_settings(mqtt_gateway_user=gateway_user or o["user"]),
        )
    except (BrokerRefused, PublishRefused, MappingError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"published {tally.published} readings (each acknowledged by the broker)")
    if tally.unrouted:
        click.echo(
            f'warning: {tally.unrouted} of them had no subscriber on the broker ("No matching '
            'subscribers": no consumer session holds them; start riskwarn stream once so '
            "the broker keeps its session)",
            err=True,
        )


@stream.command()
@click.argument("warning_id")
@click.option(
    "--by",
    "who",
    required=True,
    help="Who acknowledges (user name or contact id), recorded as typed; the audit entry "
    "also names the OS account running the command (run_by) and, on PostgreSQL, the "
    "store's database user (db_user).",
)
@click.option(
    "--key",
    "delivery_key",
    help="The change acknowledged (the message's delivery key); without it, every change "
    "of the warning delivered and not yet acknowledged.",
)
def ack(warning_id: str, who: str, delivery_key: str | None) -> None:
    """Acknowledge a delivered warning change (stops its escalation); without --key,
    every change of the warning nobody acknowledged yet that someone may have received
    (a change still queued, or whose sending failed, is left out and named). A warning
    (or key) with no delivery in the log is refused (exit 2), nothing recorded; so is a
    change (without --key: every change) someone acknowledged first, naming them, a
    change never sent (expired, merged into a later change, not paged, cancelled by
    review), and, without --key, a warning none of whose open changes was sent yet.
    Answers in RISKWARN_PAGING_LANG (zh or en), the language of the pages."""
    from riskwarn.paging_texts import not_sent_yet_why, t
    from riskwarn.settings import load_settings
    from riskwarn.store import Store
    from riskwarn.store.base import os_actor
    from riskwarn.store.deliveries import (
        AckByError,
        AlreadyAcknowledgedError,
        NeverSentError,
        NoDeliveryError,
        NotSentYetError,
    )

    settings = load_settings()
    lang = settings.paging_lang
    with Store.from_settings(settings) as store:
        store.upgrade()
        try:
            # --by is a name as typed (the audit entry's actor); who typed it: run_by
            done = store.acknowledge_delivered(
                warning_id, who, delivery_key=delivery_key, via="cli", run_by=os_actor()
            )
        except (
            NoDeliveryError,
            AckByError,
            AlreadyAcknowledgedError,
            NeverSentError,
            NotSentYetError,
        ) as exc:
            raise click.ClickException(exc.said(lang, settings.display_tz)) from None
    for ack_id, key in done:
        click.echo(t("ack_done", lang, warning=warning_id, key=key, ack=ack_id))
    for key, statuses in done.left.items():
        click.echo(t("ack_left", lang, key=key, why=not_sent_yet_why(statuses, lang)))
