"""What the dashboard reads from MLflow (champions, runs, artifacts) and the audited
promotions behind them, cached (``st.cache_data``); the client per tracking URI is shared
(``st.cache_resource``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

LOG = logging.getLogger(__name__)


@st.cache_resource
def mlflow_client(tracking_uri: str) -> Any:
    """One MLflow client per tracking URI."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def champion(tracking_uri: str, domain: str) -> dict[str, Any] | None:
    """The champion of ``domain``: version, run id, metrics, params and artifact paths.

    The registry's ``champion`` alias is read on every call (one registry query), the
    version's details are cached by version: a promotion or a rollback (the CLI's, a
    retrain's) shows on the next page run. The whole answer was cached for 300 s, so a
    data scientist who had just promoted saw the old champion for up to 5 minutes.
    When the alias has moved, the cached audit entries (:func:`promotion`) are dropped
    too: a rollback to an earlier version is its own entry, not that version's older one.
    """
    version = champion_version(tracking_uri, domain)
    if version is None:
        return None
    seen = _SEEN.get((tracking_uri, domain))
    if seen is not None and seen != version:
        promotion.clear()
    _SEEN[(tracking_uri, domain)] = version
    return _champion(tracking_uri, domain, version)


_SEEN: dict[tuple[str, str], str] = {}  # the champion version each domain last read


def champion_version(tracking_uri: str, domain: str) -> str | None:
    """The version the ``champion`` alias of ``domain``'s model points at (not cached)."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).exists():
        return None  # no registry yet; reading must not create one
    name = f"riskwarn-{domain}"
    try:
        mv = mlflow_client(tracking_uri).get_model_version_by_alias(name, "champion")
    except Exception as exc:  # no such model or alias: the registry says so with an error
        LOG.info("no champion for %s: %s", name, exc)
        return None
    return str(mv.version)


@st.cache_data(ttl=300, show_spinner=False)
def _champion(tracking_uri: str, domain: str, version: str) -> dict[str, Any] | None:
    """:func:`champion`'s details of ``version`` (cached: a version's run does not change)."""
    client = mlflow_client(tracking_uri)
    name = f"riskwarn-{domain}"
    try:
        mv = client.get_model_version(name, version)
    except Exception as exc:  # deleted since the alias was read
        LOG.info("no version %s of %s: %s", version, name, exc)
        return None
    from models.registry import version_run

    # its run may be gone (deleted, collected by mlflow gc): the version's facts stay
    # (its tags; the data end: serving_model's data_end), the run's are not there
    run, _ = version_run(client, mv.run_id)
    return {
        "name": name,
        "version": mv.version,
        "run_id": mv.run_id,
        "experiment_id": run.info.experiment_id if run is not None else None,
        "registered_at": pd.Timestamp(int(mv.creation_timestamp), unit="ms", tz="UTC"),
        "trained_at": pd.Timestamp(int(run.info.start_time), unit="ms", tz="UTC")
        if run is not None
        else None,
        "gate_tag": (mv.tags or {}).get("gate"),
        "metrics": dict(run.data.metrics) if run is not None else {},
        "params": dict(run.data.params) if run is not None else {},
        "artifacts": _list_artifacts(client, mv.run_id) if run is not None else [],
    }


@st.cache_data(ttl=300, show_spinner=False)
def run_json(tracking_uri: str, run_id: str, path: str) -> dict[str, Any] | None:
    """A JSON artifact of a run (``gate.json``, ``metrics.json``), None if it has none."""
    import json

    try:
        raw = artifact_bytes(tracking_uri, run_id, path)
    except Exception as exc:  # MLflow raises its own errors for a missing artifact
        LOG.info("no %s in run %s: %s", path, run_id, exc)
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


MLFLOW_UI_PROBE_S = 1.0  # how long the page waits for the MLflow UI to answer


@st.cache_data(ttl=30, show_spinner=False)
def mlflow_ui_down(ui: str, timeout_s: float = MLFLOW_UI_PROBE_S) -> bool:
    """Whether nothing answers HTTP at the MLflow UI ``ui`` (``RISKWARN_MLFLOW_UI_URL``)
    within ``timeout_s``: the models page's links to it then open nothing (``make demo``
    reads MLflow's SQLite file and starts no tracking server; ``make up`` does). Any
    answer counts as running, a 401 of the basic-auth server included. One short probe
    per 30 s, shared by every link of the page."""
    import requests

    try:
        requests.get(ui.rstrip("/") + "/health", timeout=timeout_s, allow_redirects=False)
    except requests.RequestException:
        return True
    return False


@st.cache_data(ttl=60, show_spinner=False)
def promotion(url: str, model: str, version: str) -> dict[str, Any] | None:
    """The newest audit entry that pointed ``champion`` of ``model`` at ``version``
    (``actor``, ``at``, ``details`` with ``reason`` and ``forced_over_gate``), or None."""
    from dashboard.store_handle import store

    for entry in store(url).audit_entries("model", model, ("promote", "rollback")):
        details = entry.get("details") or {}
        if str(details.get("version")) == str(version):
            return {
                "action": entry["action"],
                "actor": entry["actor"],
                "at": entry["at"],
                "details": details,
            }
    return None


def version_gate(tracking_uri: str, domain: str, version: str) -> dict[str, Any] | None:
    """The ``gate.json`` of ``domain``'s model ``version`` (its checks: calibration among
    them, as ``riskwarn models <domain> --checks`` prints them), None when the version or
    its gate cannot be read."""
    details = _champion(tracking_uri, domain, str(version))
    if details is None:
        return None
    return run_json(tracking_uri, str(details["run_id"]), "gate.json")


def version_metrics(tracking_uri: str, domain: str, version: str) -> dict[str, Any] | None:
    """The ``metrics.json`` of ``domain``'s model ``version`` (its backtest: each method's
    values, the headline metric and its CIs), None when the version or its file cannot be
    read."""
    details = _champion(tracking_uri, domain, str(version))
    if details is None:
        return None
    return run_json(tracking_uri, str(details["run_id"]), "metrics.json")


def version_reliability(tracking_uri: str, domain: str, version: str) -> dict[str, Any] | None:
    """The ``plots/reliability.json`` of ``domain``'s model ``version`` (its backtest's
    out-of-sample rows in quantile bins: mean predicted, observed rate, count), None when
    the version or its file cannot be read (a run older than the file)."""
    details = _champion(tracking_uri, domain, str(version))
    if details is None:
        return None
    return run_json(tracking_uri, str(details["run_id"]), "plots/reliability.json")


def serving_model(tracking_uri: str, url: str, domain: str) -> dict[str, Any]:
    """What scoring would serve for ``domain`` now: the one read behind every place of the
    dashboard that names a domain's champion (verdict cards, the Champion tab, the
    district panel, the overview's map note).

    ``alias``: the version MLflow's ``champion`` alias points at (None: no alias, nothing
    to serve); ``served``: scoring's own check passes (:func:`served_champion`:
    :func:`models.registry.checked_champion`); ``version``: the version served (None
    when refused); ``recorded``: the version of riskwarn's newest alias move (None: never
    recorded; it differs from ``alias`` when MLflow and riskwarn's record disagree);
    ``reason``: scoring's refusal (English, the CLI's words) when not served;
    ``champion``: :func:`champion`'s details of the alias's version (the served one when
    ``served``); ``promotion``: the audit entry it matches when served; ``data_end``
    (when served): the training data end scoring's in-sample guard serves it on
    (:func:`models.registry.data_end`: its version's tags first, then its run, held to
    the end riskwarn recorded when it promoted it), ``at`` None with a ``problem`` (and
    scoring's English ``words``) when it refuses the version at every origin; None when
    the registry could not say."""
    from dashboard.store_handle import store
    from models import registry

    details = champion(tracking_uri, domain)
    out: dict[str, Any] = {
        "alias": None if details is None else str(details["version"]),
        "served": False,
        "version": None,
        "recorded": None,
        "reason": None,
        "champion": details,
        "promotion": None,
        "data_end": None,
    }
    if details is None:  # no alias: riskwarn's recorded champion may have been deleted
        try:  # in MLflow (attack review 2026-12-07): named, not "no champion registered"
            record = registry.recorded_champion(store(url), registry.model_name(domain))
        except Exception:
            record = None
        out["recorded"] = None if record is None else str(record.get("version"))
        return out
    try:
        record = registry.recorded_champion(store(url), registry.model_name(domain))
    except Exception:  # the store cannot be read: served_champion says why below
        record = None
    out["recorded"] = None if record is None else str(record.get("version"))
    served = served_champion(tracking_uri, url, domain, out["alias"])
    if served["served"]:
        out.update(
            served=True,
            version=str(served["version"]),
            promotion=served["promotion"],
            data_end=served.get("data_end"),
        )
    else:
        out["reason"] = served["reason"]
    return out


def served_champion(tracking_uri: str, url: str, domain: str, version: str) -> dict[str, Any]:
    """:func:`_served_champion`, cached by the alias's ``version`` and the id of riskwarn's
    newest alias move (read on every call, one audit query): a promotion or rollback shows
    on the next page run, even one that returns the alias to the version it had."""
    from dashboard.store_handle import store
    from models import registry

    try:
        record = registry.recorded_champion(store(url), registry.model_name(domain))
    except Exception as exc:  # the serving store cannot be read: scoring fails too
        return {"served": False, "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    move = str((record or {}).get("move_id") or "")
    return _served_champion(tracking_uri, url, domain, version, move)


@st.cache_data(ttl=60, show_spinner=False)
def _served_champion(
    tracking_uri: str, url: str, domain: str, version: str, move: str
) -> dict[str, Any]:
    """Whether scoring serves the champion alias of ``domain`` (at ``version``; ``version``
    and ``move`` are the cache's key): the very check scoring makes (:func:`models.registry.checked_champion`: the alias,
    the version's gate tag and its files against riskwarn's newest alias move).

    ``{"served": True, "version", "promotion"}`` (the audit entry it matches, as
    :func:`promotion`), or ``{"served": False, "reason"}``: the alias moved behind
    riskwarn's back, a gate tag edited, files replaced, or the check could not be made.
    """
    import mlflow

    from dashboard.store_handle import store
    from models import registry
    from riskwarn.spill import owned_tempdir

    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)  # models:/ URIs resolve against the registry
        with owned_tempdir("champion check") as tmp:
            served, _, record = registry.checked_champion(
                mlflow_client(tracking_uri), store(url), domain, tmp / "download"
            )
    except registry.ChampionRefused as exc:
        return {"served": False, "reason": str(exc)}
    except Exception as exc:  # registry or artifact store unreadable: scoring fails too
        first = str(exc).splitlines()[0] if str(exc) else ""
        return {"served": False, "reason": f"{type(exc).__name__}: {first}"}
    details = {k: v for k, v in record.items() if k not in ("action", "actor", "at")}
    try:  # the data end scoring's in-sample guard serves it on: the same rule
        end = registry.data_end(mlflow_client(tracking_uri), domain, served, record)
        data_end: dict[str, Any] | None = {
            "at": end.at,
            "problem": end.problem,
            "words": end.words,
            "recorded": end.recorded,
            "read": end.read,
            "run_gone": end.read_from == "run gone",
        }
    except Exception as exc:  # the registry cannot say: scoring cannot either
        LOG.info("no data end for %s v%s: %s", domain, served, exc)
        data_end = None
    return {
        "served": True,
        "version": served,
        "data_end": data_end,
        "promotion": {
            "action": record.get("action"),
            "actor": record.get("actor"),
            "at": record.get("at"),
            "details": details,
        },
    }


def _list_artifacts(client: Any, run_id: str, path: str | None = None, depth: int = 2) -> list[str]:
    out: list[str] = []
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            if depth > 0:
                out.extend(_list_artifacts(client, run_id, item.path, depth - 1))
        else:
            out.append(item.path)
    return out


@st.cache_data(ttl=3600, show_spinner=False)
def artifact_bytes(tracking_uri: str, run_id: str, path: str) -> bytes:
    """Content of one run artifact (plots, small tables)."""
    import tempfile

    client = mlflow_client(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return Path(local).read_bytes()
