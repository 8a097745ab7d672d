"""``riskwarn promote`` / ``riskwarn rollback``: move a domain's ``champion`` alias.

Each move is written to the serving store's audit log before the alias moves, under
the identity the registry authenticated (``registry.authenticated_actor``: the MLflow
server's user, or the operating-system account for a registry opened directly); there
is no ``--actor`` to claim another name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from riskwarn import domains


def _client_and_store():
    from models.registry import configure
    from riskwarn.settings import load_settings
    from riskwarn.store import Store

    settings = load_settings()
    store = Store.from_settings(settings)
    store.upgrade()
    return configure(settings.resolved_mlflow_uri), store, settings.resolved_mlflow_uri


# MLflow HTTP settings for the registry commands unless set: one retry, 10 s per request
REGISTRY_QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


@contextmanager
def quick_registry(**settings: str) -> Iterator[None]:
    """MLflow's HTTP client with :data:`REGISTRY_QUICK` (or ``settings``) for the block:
    an unreachable MLflow server is said in seconds, not after MLflow's default 7
    retries with backoff (about 4.5 minutes). A value the user set is kept, and the
    environment is restored after (the command may run inside a process)."""
    quick = {**REGISTRY_QUICK, **settings}
    unset = [var for var in quick if var not in os.environ]
    os.environ.update({var: quick[var] for var in unset})
    try:
        yield
    finally:
        for var in unset:
            os.environ.pop(var, None)


def registry_unreadable(uri: str, exc: Exception) -> click.ClickException:
    """The one error line of an MLflow registry that could not be read."""
    return click.ClickException(
        f"cannot read the model registry at {uri}: {str(exc).strip().splitlines()[0]}"
    )


def move_actor(uri: str) -> str:
    """``registry.authenticated_actor(uri)``; when it refuses (an MLflow server used
    without credentials) and the server does not answer either, the unreachable server
    is said first, the missing credentials after it: both are true, and the first is
    what stops the move now (raised as ``registry.PromotionRefused``)."""
    from models import registry
    from riskwarn.redact import redact

    try:
        return registry.authenticated_actor(uri)
    except registry.PromotionRefused as refused:
        down = mlflow_unreachable(uri)
        if down is None:
            raise
        raise registry.PromotionRefused(
            f"cannot reach the MLflow server at {redact(uri)} ({down}); also, {refused}"
        ) from None


def mlflow_unreachable(uri: str, timeout_s: float = 10.0) -> str | None:
    """Why the MLflow server at ``uri`` (http or https) does not answer, in one line, or
    None when it answers (any status: a 401 is a server that answers)."""
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout_s)
    except requests.Timeout:
        return f"no answer in {timeout_s:g} s"
    except requests.ConnectionError as exc:
        import re

        # urllib3 nests the OS's reason three levels deep: "[Errno 111] Connection refused"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        errno = re.search(r"\[Errno -?\d+\] [^'\"()]+", text)
        return errno.group(0).strip() if errno else text or type(exc).__name__
    return None


class WrongModel(click.ClickException):
    """A model that cannot serve this domain (another domain's features), or a promotion
    refused for a gate passed against another champion than the serving one: exit 2."""

    exit_code = 2


# DOMAIN in the usage line and its choices in the help's epilog: click printed the
# choices as "{incidents|incidents_daily|disputes|dispute_c" / "ases|...}", cut mid-word
DOMAIN_ARG = click.argument("domain", type=click.Choice(domains.names()), metavar="DOMAIN")
DOMAIN_EPILOG = "DOMAIN is one of: " + ", ".join(domains.names()) + "."


def version_label(version: str) -> str:
    """The version as given, with one ``v`` in front (``1`` and ``v1`` both ``v1``)."""
    return version if version[:1] in ("v", "V") else f"v{version}"


def scoring_how(domain: str) -> str:
    """How DOMAIN's next forecasts are made: the command, and the DAG that runs it on a
    schedule (when one does)."""
    dag = domains.get(domain).scored_by
    command = f"`riskwarn score {domain} --origin ...`"
    return command + (f" or the scheduled {dag} DAG" if dag else "")


def serving_note(domain: str, published: str | None) -> str:
    """What a moved champion alias changes now and what next, in one line: the
    published warnings stay those of the last scoring run (of ``published``, the model
    version behind it, None: none published) until the next one, which loads the new
    champion (the dashboard says this too). Names the command and the scheduled DAG."""
    how = scoring_how(domain)
    if not published:
        return f"no warnings are published yet; the next scoring run uses the new champion: {how}"
    return (
        f"the published warnings stay {version_label(published)}'s until the next scoring "
        f"run, which uses the new champion: {how}"
    )


def _published_version(store: Any, domain: str) -> str | None:
    run = store.published_run(domain)
    version = (run or {}).get("model_version")
    return None if version in (None, "") else str(version)


@click.command(epilog=DOMAIN_EPILOG)
@DOMAIN_ARG
@click.argument("version")
@click.option("--reason", required=True, help="Why (written to the audit log).")
@click.option(
    "--force",
    is_flag=True,
    help="Promote a version whose promotion gate failed, never judged it, or judged it "
    "against another champion than the one serving now (recorded in the audit log).",
)
def promote(domain: str, version: str, reason: str, force: bool) -> None:
    """Point DOMAIN's champion alias at model VERSION (refused if its gate failed, or
    passed against another champion than the one serving now, unless --force)."""
    from mlflow.exceptions import MlflowException

    from models import registry

    version = registry.bare_version(version) or version
    client, store, uri = _client_and_store()
    try:
        with quick_registry():  # an unreachable MLflow server: said in seconds
            out = registry.promote(
                client,
                domain,
                version,
                store=store,
                actor=move_actor(uri),
                reason=reason,
                force=force,
            )
    except (MlflowException, registry.PromotionRefused) as exc:
        # every refusal is audited (promotion_refused) by registry.promote; each is one
        # error line, exit 2 (another domain's model is refused even with --force)
        refused = (registry.ForeignModel, registry.StaleGate)
        kind = WrongModel if isinstance(exc, refused) else click.ClickException
        raise kind(
            f"cannot promote riskwarn-{domain} {version_label(version)}: {str(exc).splitlines()[0]}"
        ) from None
    else:
        published = _published_version(store, domain) if out["changed"] else None
    finally:
        store.close()
    if out["changed"]:
        before = version_label(out["previous"]) if out["previous"] else "unset"
        click.echo(f"riskwarn-{domain}@champion: {before} -> {version_label(version)}")
        if out["previous"] != version:  # the alias set again on the same version: no change
            click.echo(serving_note(domain, published))
        if out.get("alias_missing"):
            click.echo(
                f"(MLflow's champion alias was missing, deleted outside riskwarn; it is set "
                f"again, to {version_label(version)}; riskwarn's record, "
                f"{version_label(str(out['previous']))}, is what served)",
                err=True,
            )
        elif out.get("alias_was"):
            click.echo(
                f"(MLflow's alias pointed at {version_label(str(out['alias_was']))}, moved "
                f"outside riskwarn; riskwarn's record, {version_label(str(out['previous']))}, "
                "is what served)",
                err=True,
            )
    else:
        click.echo(f"riskwarn-{domain}@champion already at {version_label(version)}")


@click.command("models", epilog=DOMAIN_EPILOG)
@DOMAIN_ARG
@click.option("--checks", is_flag=True, help="Each version's promotion-gate checks too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def models_(domain: str, checks: bool, as_json: bool) -> None:
    """DOMAIN's model versions, newest first: trained when and through when, the gate's
    verdict and the champion it was judged against, the sources it was trained on (the
    only ones it is scored on), and which version serves (riskwarn's record, what scoring
    loads) and where MLflow's champion alias points. Read-only."""
    import json

    from mlflow.exceptions import MlflowException

    from dashboard.verdicts import random_reference, sources_words, trained_on_words
    from models import registry

    # a read-only listing: an unreachable MLflow server is said in seconds
    with quick_registry():
        client, store, uri = _client_and_store()
        try:
            rows = registry.versions(client, store, domain)
            pending = registry.pending_moves(store, registry.model_name(domain)) if rows else []
            gone = registry.recorded_version_gone(client, store, registry.model_name(domain))
        except MlflowException as exc:
            raise registry_unreadable(uri, exc) from None
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo(f"riskwarn-{domain}: no registered version (train one: riskwarn train {domain})")
        return
    served = next((r["version"] for r in rows if r["recorded"]), None)
    alias = next((r["version"] for r in rows if r["alias"]), None)
    if served is None and gone is not None:  # deleted in MLflow behind riskwarn's back
        click.echo(registry.gone_words(f"riskwarn-{domain}", gone))
    elif served is None:
        click.echo(
            f"riskwarn-{domain}: no version recorded as champion by riskwarn: nothing serves"
        )
    elif alias != served:
        click.echo(
            f"riskwarn-{domain}: MLflow's champion alias points at {version_label(alias or '-')}, "
            f"riskwarn recorded {version_label(served)}: scoring refuses to serve until they agree "
            "(riskwarn promote or rollback)"
        )
    last = next((r.get("promotion") for r in rows if r["recorded"] and r.get("promotion")), None)
    if served is not None and last:  # the serving version's last registry action
        click.echo(f"riskwarn-{domain}: {version_label(served)} serves: {move_words(last, checks)}")
    for entry in pending[:1]:  # a crash between recording a move's intent and its move
        details = entry["details"] or {}
        kind = details.get("action") or "move"
        click.echo(
            f"riskwarn-{domain}: a {kind} of {version_label(str(details.get('version')))} by "
            f"{entry['actor']} at {entry['at']:%Y-%m-%d %H:%M}Z was interrupted before it was "
            f"recorded; the next riskwarn promote or rollback records how it ended"
        )
    for r in rows:
        mark = {
            (True, True): "SERVING",
            (False, True): "alias only",
            (True, False): "recorded, alias elsewhere",
        }.get((r["recorded"], r["alias"]))
        judged = r["gate_champion"]
        against = (
            "with no champion"
            if judged is None
            else "against an unrecorded champion"
            if judged == "unknown"
            else f"against {version_label(str(judged))}"
        )
        compared = r.get("gate_compared")
        if judged not in (None, "unknown") and compared and not compared["compared"]:
            # a refresh passes with too few origins after the champion's data to compare
            # on: it was judged by the rules and calibration, never against the champion
            n = compared["n_origins"]
            against = f"no out-of-sample comparison with {version_label(str(judged))}" + (
                f": {n} origin{'' if n == 1 else 's'}" if n is not None else ""
            )
        gate = r["gate"] or "none"
        # a gate that did not pass names the checks that made it so (review of
        # 2026-12-07: "gate fail (no out-of-sample comparison with v1: 0 origins)" read as
        # if the comparison failed, when calibration had)
        failing = [
            f"{c.get('check')}{' (not judged)' if check_state(c) == '--' else ''}"
            for c in r.get("checks") or []
            if check_state(c) != "ok"
        ]
        if r["gate"] and r["gate"] != "pass" and failing:
            against = f"failing: {', '.join(failing)}; {against}"
        move = r.get("promotion") or {}
        forced = move.get("action") == "promote" and move.get("forced")
        back = move.get("action") == "rollback"
        click.echo(
            f"{version_label(r['version']):>5}  created {r['created'][:16]}Z  "
            f"trained through {(r['trained_through'] or '?')[:10]}  "
            f"recipe {r['recipe'] or '?'}  gate {gate}"
            + (f" ({against})" if r["gate"] else "")
            + (", promoted by force" if forced else "")
            + (", returned to by a rollback" if back else "")
            + (f"  [{mark}]" if mark else "")
        )
        if r.get("run_deleted"):  # promote and rollback refuse it; scoring warns
            click.echo(
                f"         its MLflow run {r.get('run_id')} was deleted: its model files may be "
                "removed at any time (mlflow gc); promote and rollback refuse it"
                + ("; it still serves: promote another version" if mark == "SERVING" else "")
            )
        # its history, oldest first, as the models page says it: every move to it (who,
        # when, why; a forced one says what was forced over) and the rollback away from it
        history = r.get("history")
        for entry in history if history is not None else [move] if forced else []:
            if r["recorded"] and last is not None and entry == last:
                continue  # said once, in the "serves" line above (review of 6 Dec 2026)
            click.echo(f"         {move_words(entry, checks)}")
        counted = sources_words(r.get("sources"), r.get("counted_on_sources"), "en")
        if counted:  # on which sources' events its figures were counted (hotspot domains)
            click.echo(f"         {counted}")
        learned = trained_on_words(r.get("trained_on_sources"), "en")
        if learned:  # the sources scoring reads for it (riskwarn.scoring.served_sources)
            click.echo(f"         {learned}")
        if checks:
            values = r.get("model_values") or {}
            for c in r["checks"]:
                value = values.get(str(c.get("metric")))
                # what a random choice of the scored cells scores (not 1: every event
                # counts; None for a run that does not record events_active_area)
                ref = random_reference(str(c.get("metric")), r.get("event_counts"))
                line = check_line(c, value, ref)
                click.echo(f"         {check_mark(c, value, ref):>2}  {line}")


# the gate's metric ids in the words of its checks ("not worse than kde at PAI@1%")
METRIC_WORDS = {"auc": "AUC", "average_precision": "average precision (AP)"}


def metric_words(metric: str) -> str:
    """``auc`` -> "AUC", ``pai@0.05`` -> "PAI@5%", ``tss@red`` -> "TSS at red"."""
    if metric in METRIC_WORDS:
        return METRIC_WORDS[metric]
    name, _, at = metric.partition("@")
    try:
        return f"{name.upper()}@{100 * float(at):g}%"
    except ValueError:
        return f"{name.upper()} at {at}" if at else metric


def check_state(check: dict[str, Any]) -> str:
    """``--`` (not judged), ``ok`` or ``NO``: the gate's own outcome, never re-judged."""
    return "--" if check.get("judged") is False else "ok" if check.get("ok") else "NO"


def check_mark(
    check: dict[str, Any], model_value: float | None = None, reference: float | None = None
) -> str:
    """The mark before a check of ``riskwarn models --checks``: :func:`check_state`, but a
    check the gate passed while the model's own value of its metric (``model_value``) is
    below ``reference``, what a random choice of the scored cells scores
    (:func:`dashboard.verdicts.random_reference`; None: not known, no mark), reads
    "!! below random (gate: ok)": the gate's verdict kept, not a bare "ok"."""
    from dashboard.verdicts import below_random_words

    state = check_state(check)
    metric = check.get("metric")
    if state == "ok" and metric and below_random_words(str(metric), model_value, "en", reference):
        return "!! below random (gate: ok)"
    return state


_CI_TEXT = re.compile(r"95% CI \[[^\]]*\]")


def _worse_not_shown(check: dict[str, Any]) -> bool:
    """A passed check whose point estimate is worse while its CI reaches 0: the gate's
    "not worse" rule (fails only if the whole CI lies below zero) let it through."""
    ci, diff = check.get("ci"), check.get("diff")
    if not check.get("ok") or check.get("judged") is False or diff is None:
        return False
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return False
    return float(diff) < 0 and float(ci[0]) < 0 <= float(ci[1])


def check_line(
    check: dict[str, Any], model_value: float | None = None, reference: float | None = None
) -> str:
    """One gate check of ``riskwarn models --checks``: a comparison (it has a ``metric``,
    ``models.registry.check_summary``) names the metric it compares on, unless its name
    does ("not worse than kde at PAI@1%"), and what its 95% CI resampled. Its CI is
    written from the recorded bounds (:func:`models.gate.ci_text`), so -0.00047 never
    reads "-0.000"; a pass that is worse on the point estimate says so ("tie, point
    below", as the gate's detail says it since 2026-12-07). With the model's
    own value of its metric (``model_value``, metrics.json) below ``reference``, what a
    random choice of the scored cells scores (:func:`dashboard.verdicts.random_reference`),
    it says so in the models page's words."""
    from dashboard.verdicts import below_random_words, champion_sources_words
    from models.gate import ci_text

    name, detail = str(check.get("check")), str(check.get("detail"))
    ci = check.get("ci")
    if isinstance(ci, list | tuple) and len(ci) == 2:
        detail = _CI_TEXT.sub(lambda _: ci_text(float(ci[0]), float(ci[1])), detail, count=1)
    if _worse_not_shown(check) and "tie, point below" not in detail:
        # a gate of before 2026-12-07 did not say where a tie's point lies
        detail += "; tie, point below: worse on the point estimate, not beyond noise"
    compared_on = champion_sources_words(check, "en")
    if compared_on:  # a hotspot champion check: the events both were counted on
        detail += "; " + compared_on[:1].lower() + compared_on[1:].rstrip(".")
    metric = check.get("metric")
    below = below_random_words(str(metric), model_value, "en", reference) if metric else None
    if below:  # plain text: the page's Markdown emphasis dropped
        plain = below.replace("**", "").rstrip(".")
        detail += "; but " + plain[:1].lower() + plain[1:]
    if not metric:
        return f"{name}: {detail}"
    words = metric_words(str(metric))
    named = words.lower() in name.lower()
    resampled = check.get("ci_resampled")
    said = resampled and "bootstrap over" in str(detail)  # the case gates say it themselves
    return f"{name}{'' if named else f' on {words}'}: {detail}" + (
        f" (CI: {resampled})" if resampled and not said else ""
    )


def forced_words(move: dict[str, Any]) -> str:
    """A promotion made with ``--force`` (``models.registry.move_summary``) in one line:
    what the gate said, who forced it, when (UTC) and the reason they gave."""
    stale = move.get("stale_gate") or {}
    gate = move.get("gate")
    if move.get("forced") == "stale_gate":
        judged = stale.get("gate_champion")
        over = (
            f"its gate passed {'with no champion' if judged in (None, 'none') else f'against v{judged}'}"
            f", never against v{stale.get('serving', '?')} it replaced"
        )
    elif gate == "fail":
        over = "it failed its promotion gate"
    elif gate == "not_judged":
        over = "its promotion gate could not judge it"
    else:
        over = "it has no gate outcome"
    at = str(move.get("at") or "?")
    when = f"{at[:10]} {at[11:16]}Z" if len(at) >= 16 else at
    reason = shown_reason(move.get("reason"))
    return f'promoted by force by {move.get("actor") or "?"} at {when} ({over}); reason: "{reason}"'


def shown_reason(reason: Any) -> str:
    """A recorded move's reason on one line ("-" without), cut at the reasons' limit
    (:data:`riskwarn.review_text.REASON_MAX_CHARS`): one recorded before promote and
    rollback refused longer ones (130,000 characters were printed by every ``riskwarn
    models``: attack review 2026-12-07) ends "... (cut: N characters in all)"."""
    from riskwarn.review_text import REASON_MAX_CHARS

    text = " ".join(str(reason or "").split()) or "-"
    if len(text) <= REASON_MAX_CHARS:
        return text
    return f"{text[:REASON_MAX_CHARS].rstrip()}... (cut: {len(text):,} characters in all)"


_GATE_REASON = re.compile(r"^gate (PASS|FAIL|NOT JUDGED): (.*)$", re.S)


def _top_level_parts(text: str) -> list[str]:
    """``text`` split at "; " outside parentheses (a gate summary's checks)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and text.startswith("; ", i):
            parts.append(text[start:i])
            start = i + 2
    parts.append(text[start:])
    return [p for p in parts if p]


def short_reason(reason: str) -> str:
    """A promotion reason that is the gate's whole summary (``models.gate.GateDecision.
    summary``: "gate PASS: <check>: ok (<detail>); ...", 600-1000 characters) cut to its
    verdict and the checks that failed or were not judged; any other reason as given.
    ``riskwarn models --checks`` prints the reason in full."""
    got = _GATE_REASON.match(reason)
    if not got:
        return reason
    failing = []
    for part in _top_level_parts(got.group(2)):
        name, _, rest = part.partition(": ")
        if not rest.startswith("ok"):
            failing.append(f"{name} ({'not judged' if rest.startswith('not judged') else 'no'})")
    verdict = f"gate {got.group(1)}"
    return (
        verdict + (f"; failing: {', '.join(failing)}" if failing else "") + " (--checks: in full)"
    )


def move_words(move: dict[str, Any], full: bool = False) -> str:
    """A recorded alias move (``models.registry.move_summary``) in one line: a forced
    promotion as :func:`forced_words`; a promotion "promoted by WHO at WHEN; reason:
    ..."; a rollback "rolled back from vA to vB by WHO at WHEN; reason: ...". A reason
    that is the gate's summary is cut to its verdict (:func:`short_reason`) unless
    ``full``."""
    if move.get("action") == "promote" and move.get("forced"):
        return forced_words(move)
    at = str(move.get("at") or "?")
    when = f"{at[:10]} {at[11:16]}Z" if len(at) >= 16 else at
    reason = shown_reason(move.get("reason"))
    reason = reason if full else short_reason(reason)
    who = f'by {move.get("actor") or "?"} at {when}; reason: "{reason}"'
    if move.get("action") == "rollback":
        source = version_label(str(move.get("previous") or "?"))
        return f"rolled back from {source} to {version_label(str(move.get('version')))} {who}"
    return f"promoted {who}"


@click.command(epilog=DOMAIN_EPILOG)
@DOMAIN_ARG
@click.option("--reason", required=True, help="Why (written to the audit log).")
@click.option(
    "--from",
    "from_version",
    metavar="VERSION",
    help="Roll back only from VERSION: if another version serves, nothing is rolled back "
    "(exit 0 when the last recorded move is this rollback from VERSION, made already; "
    "else refused). For scripts and retried tasks: a re-run never goes a second step back.",
)
def rollback(domain: str, reason: str, from_version: str | None) -> None:
    """Return DOMAIN's champion alias to the version that served before.

    Run again after a crash, it first records how the interrupted move ended; if that
    was a rollback which had moved the alias, it stops there (nothing more rolled back).
    Without --from, a rollback run again when nothing was interrupted goes one more step
    back: give --from VERSION to make it idempotent."""
    from mlflow.exceptions import MlflowException

    from models import registry

    client, store, uri = _client_and_store()
    try:
        with quick_registry():  # an unreachable MLflow server: said in seconds
            out = registry.rollback(
                client,
                domain,
                store=store,
                actor=move_actor(uri),
                reason=reason,
                from_version=from_version,
            )
    except (ValueError, MlflowException) as exc:
        said = str(exc).splitlines()[0]
        if _no_registered_model(exc):  # MLflow's words for it, where `models` says this
            said = (
                f"cannot roll back riskwarn-{domain}: no registered version "
                f"(train one: riskwarn train {domain})"
            )
        raise click.ClickException(said) from None
    else:
        published = _published_version(store, domain)
    finally:
        store.close()
    if out.get("settled"):  # an interrupted rollback had moved the alias: that one only
        started = (out.get("recovered") or {}).get("started") or "?"
        click.echo(
            f"riskwarn-{domain}@champion: an interrupted rollback "
            f"{version_label(str(out.get('previous')))} -> "
            f"{version_label(out['version'])} (by {out.get('actor') or '?'}, started {started[:10]} {started[11:16]}Z) had "
            "moved the alias: recorded; nothing more rolled back"
        )
        return
    if out.get("already"):  # --from VERSION, rolled back from it already
        at = out.get("at")
        when = f" at {at:%Y-%m-%d %H:%M}Z" if at is not None else ""
        click.echo(
            f"riskwarn-{domain}@champion: already rolled back "
            f"{version_label(str(out.get('previous')))} -> "
            f"{version_label(out['version'])} (by {out.get('actor') or '?'}{when}); nothing more rolled back"
        )
        return
    for skipped in out.get("skipped") or []:  # another domain's model, or deleted
        click.echo(f"skipped {skipped}: not a champion of {domain}", err=True)
    click.echo(
        f"riskwarn-{domain}@champion: {version_label(str(out['previous']))} -> "
        f"{version_label(out['version'])}"
    )
    click.echo(serving_note(domain, published))
    if out.get("alias_was"):
        click.echo(
            f"(MLflow's alias pointed at {version_label(str(out['alias_was']))}, moved outside "
            f"riskwarn; riskwarn's record, {version_label(str(out['previous']))}, is what served)",
            err=True,
        )


def _no_registered_model(exc: Exception) -> bool:
    """Whether ``exc`` is MLflow's "Registered Model with name=... not found" (the domain
    never had a model registered), which ``rollback`` printed raw."""
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST" and str(exc).startswith(
        "Registered Model with name="
    )


@click.command()
@click.argument("domains_", metavar="[DOMAIN]...", nargs=-1, type=click.Choice(domains.names()))
@click.option(
    "--end-abandoned",
    is_flag=True,
    help="End as KILLED the runs whose owner is gone (what the next training does), holding "
    "each domain's training lock (refused while the domain trains).",
)
def runs(domains_: tuple[str, ...], end_abandoned: bool) -> None:
    """The MLflow runs of each DOMAIN (default: all) that show RUNNING, and whether their
    owner lives: ``alive``, ``gone`` (abandoned by a training that died: the next training
    of the domain ends it as KILLED) or ``unknown`` (another host's, or no owner recorded:
    never ended automatically)."""
    from mlflow.exceptions import MlflowException

    from riskwarn.settings import load_settings

    settings = load_settings()
    uri = settings.resolved_mlflow_uri
    try:
        with quick_registry():  # read-only but for --end-abandoned: said in seconds
            shown = _show_runs(settings, uri, domains_, end_abandoned)
    except MlflowException as exc:
        raise registry_unreadable(uri, exc) from None
    if not shown:
        click.echo("no run shows RUNNING")


def _show_runs(settings: Any, uri: str, domains_: tuple[str, ...], end_abandoned: bool) -> int:
    import datetime as dt

    from models import registry
    from riskwarn.spill import TrainingBusy, held_training_lock, training_lock

    client = registry.configure(uri)
    shown = 0
    for domain in domains_ or tuple(domains.names()):
        if end_abandoned:
            try:
                with training_lock(settings, domain):
                    ended = registry.end_abandoned_runs(client, domain, by="riskwarn runs")
                    for r in ended:
                        click.echo(f"riskwarn-{domain} {r['run_id']} ended as KILLED: {r['why']}")
            except TrainingBusy as exc:
                raise click.ClickException(str(exc).split(":")[0] + ": not now") from None
        for run in registry.running_runs(client, domain):
            state, why = registry.run_owner_state(run.data.tags, held_training_lock(domain))
            started = run.info.start_time
            at = dt.datetime.fromtimestamp(started / 1000, dt.UTC).isoformat(timespec="seconds")
            click.echo(f"riskwarn-{domain} {run.info.run_id} RUNNING since {at}: {state} ({why})")
            shown += 1
    return shown
