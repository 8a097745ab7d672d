"""Model promotion and rollback reasons hold no party's phone or ID number (2026-12-06).

A warning review's reason with a phone or ID number is refused (`Store.review_warning`)
and one recorded before that check is shown masked (`review.shown_reason`). The reason a
data scientist types when promoting or rolling back a model (`riskwarn promote/rollback
--reason`) had neither: it was recorded as typed in the audit log and shown verbatim on
the models page's verdict card ("promoted by force by ...; reason: ..."). Now a new one
is refused the same way (nothing moves, the refusal audited without the text) and one
recorded before is shown masked, in both languages, the record unchanged.

Real MLflow (SQLite) registry and serving store of a small demo home; the page run with
Streamlit's AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from dashboard.auth import DEMO_USERS, User
from testkit.dashboard_server import use_dashboard_env

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
DOMAIN = "incidents"
PHONE, ID_NUMBER = "138 1234 5678", "110101199003071234"
REASON = f"owner asked, call him on {PHONE}; ID {ID_NUMBER}"
MASKED = {
    "en": ("[phone removed]", "[ID number removed]"),
    "zh": ("[电话已隐去]", "[身份证号已隐去]"),
}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A demo home with incidents v1 (gate passed, promoted) and v2 (no gate tag)."""
    import mlflow

    from models import registry as reg
    from riskwarn.store import Store
    from testkit.dashboard_demo import demo_home

    home = tmp_path / "home"
    city = demo_home(home, n_cells=40, weeks=1, n_cases=4)
    client = reg.configure(f"sqlite:///{home / 'mlflow.db'}")
    name = reg.model_name(DOMAIN)
    reg.ensure_experiment(name, (home / "art").as_uri())
    mlflow.set_experiment(name)
    client.create_registered_model(name)
    with mlflow.start_run() as run:
        mlflow.log_params({"n_features": "12", "domain": DOMAIN})
        mlflow.log_dict({"passed": True, "status": "pass", "checks": []}, "gate.json")
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run.info.run_id}/x", run_id=run.info.run_id)
    client.set_model_version_tag(name, "1", "gate", "pass")
    store = Store(city.store_url)
    mp = pytest.MonkeyPatch()
    use_dashboard_env(mp, home, city.store_url)
    reg.promote(client, DOMAIN, "1", store=store, actor="ana", reason="first")
    yield {"client": client, "name": name, "store": store}
    store.close()
    mp.undo()


def _recorded_before_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moves made as before 2026-12-06 (or restored from an older backup): no check."""
    from models import registry as reg

    monkeypatch.setattr(reg, "_personal_refusal", lambda reason, name: None, raising=False)


def _card(lang: str) -> str:
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    username = next(u for u, (r, _) in DEMO_USERS.items() if r == "data_scientist")
    at.session_state["user"] = User(username, "Ana", "data_scientist")
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join([*(h.value for h in at.get("html")), *(m.value for m in at.markdown)])
    return text.replace("\\", "")  # as read: the Markdown escapes of the data undone


def _no_number(text: str) -> None:
    for digits in ("1381234", "12345678", "5678;", "110101", "19900307"):
        assert digits not in text.replace(" ", ""), (digits, text)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_forced_promotions_reason_is_shown_masked(
    home: dict[str, Any], lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import registry as reg

    _recorded_before_the_check(monkeypatch)
    reg.promote(home["client"], DOMAIN, "2", store=home["store"], actor="bob", reason=REASON,
                force=True)  # fmt: skip
    text = _card(lang)
    assert ("promoted by force" if lang == "en" else "强制启用") in text, text
    phone, idn = MASKED[lang]
    assert phone in text and idn in text and "owner asked" in text, text
    _no_number(text)
    (entry,) = [  # the record itself is unchanged
        e
        for e in home["store"].audit_entries("model", home["name"], ("promote",))
        if e["details"]["version"] == "2"
    ]
    assert entry["details"]["reason"] == REASON


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_rollbacks_reason_is_shown_masked(
    home: dict[str, Any], lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import registry as reg

    _recorded_before_the_check(monkeypatch)
    store = home["store"]
    reg.promote(home["client"], DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
    reg.rollback(home["client"], DOMAIN, store=store, actor="carol", reason=REASON)
    text = _card(lang)
    assert ("Rolled back to this version by carol" if lang == "en" else "carol") in text, text
    phone, idn = MASKED[lang]
    assert phone in text and idn in text and "owner asked" in text, text
    _no_number(text)


def test_a_promotion_with_personal_data_in_its_reason_is_refused(home: dict[str, Any]) -> None:
    from models import registry as reg

    client, store, name = home["client"], home["store"], home["name"]
    with pytest.raises(reg.PersonalDataRefused) as caught:
        reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason=REASON, force=True)
    assert caught.value.details["found"] == ["phone", "id_number"]
    assert "a phone number and an ID number" in caught.value.message["en"]
    assert "电话号码和身份证号" in caught.value.message["zh"]
    assert reg.champion_version(client, DOMAIN) == "1"  # nothing moved
    assert [e["details"]["version"] for e in store.audit_entries("model", name, ("promote",))] == [
        "1"
    ]
    (refused,) = store.audit_entries("model", name, ("promotion_refused",))
    d = refused["details"]
    assert (d["version"], d["refusal"], d["found"]) == (
        "2",
        "personal_data",
        ["phone", "id_number"],
    )
    assert "reason" not in d and refused["actor"] == "bob", refused
    _no_number(str(refused))  # audited without the text


def test_a_rollback_with_personal_data_in_its_reason_is_refused(home: dict[str, Any]) -> None:
    from models import registry as reg

    client, store, name = home["client"], home["store"], home["name"]
    reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
    with pytest.raises(reg.PersonalDataRefused):
        reg.rollback(client, DOMAIN, store=store, actor="carol", reason=f"ring {PHONE}")
    assert reg.champion_version(client, DOMAIN) == "2"  # nothing moved
    assert not store.audit_entries("model", name, ("rollback",))
    (refused,) = store.audit_entries("model", name, ("rollback_refused",))
    d = refused["details"]
    assert (d["refusal"], d["found"], d["via"]) == ("personal_data", ["phone"], "riskwarn rollback")
    assert "reason" not in d and refused["actor"] == "carol", refused
    _no_number(str(refused))


def test_the_cli_refuses_it_in_one_line(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`riskwarn promote/rollback --reason` with a phone number: one error line saying what
    to remove, without echoing the number; nothing moves."""
    from models import registry as reg
    from riskwarn.cli import main

    client = home["client"]
    for args in (
        ["promote", DOMAIN, "2", "--force", "--reason", f"call {PHONE}"],
        ["rollback", DOMAIN, "--reason", f"call {PHONE}"],
    ):
        code = main(args)
        err = capsys.readouterr().err
        assert code != 0 and len(err.strip().splitlines()) == 1, err
        assert "the reason contains a phone number" in err and "Nothing was changed" in err, err
        _no_number(err)
        assert reg.champion_version(client, DOMAIN) == "1"


def test_the_cli_refuses_a_number_beside_a_name(
    home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """`riskwarn rollback --reason 张三13812345678` (attack review 2026-12-07): the 三 of
    the name was read as a digit, the 12-digit run was no phone and the reason went
    into the audit log as typed. Refused now, nothing moves, nothing audited with it."""
    from models import registry as reg
    from riskwarn.cli import main

    client, store, name = home["client"], home["store"], home["name"]
    reg.promote(client, DOMAIN, "2", store=store, actor="bob", reason="r", force=True)
    for reason in ("张三13812345678", "电话13812345678一直打不通"):
        code = main(["rollback", DOMAIN, "--reason", reason])
        err = capsys.readouterr().err
        assert code != 0 and "the reason contains a phone number" in err, err
        assert "13812345678" not in err
        assert reg.champion_version(client, DOMAIN) == "2"
    assert not store.audit_entries("model", name, ("rollback",))
    refused = store.audit_entries("model", name, ("rollback_refused",))
    assert len(refused) == 2 and "13812345678" not in str(refused), refused
