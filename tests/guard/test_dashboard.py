"""The school's side: the alerts dashboard, its actions, the family page, and the report."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.models import Guardian, StaffRole, StaffUser
from app.guard.cli import guard
from app.guard.models import AlertStatus, GuardAlert, Step
from app.schools.models import School
from tests.factories import make_school, make_staff
from tests.guard.conftest import Device
from tests.support.web import dashboard_chart, sign_in


def _staff_client(
    app: Flask, session: Session, role: StaffRole, school: School | None
) -> tuple[FlaskClient, StaffUser]:
    staff = make_staff(session, role, school_id=school.id if school else None)
    session.commit()
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    sign_in(app, client, session, staff)
    return client, staff


def _four_devices(guardian: Guardian, device: Callable[..., Device]) -> list[Device]:
    browsers = [device(guardian) for _ in range(4)]
    for browser in browsers:
        assert browser.get("/events").status_code == 200
    return browsers


def _alert(session: Session) -> GuardAlert:
    session.expire_all()
    (alert,) = session.scalars(select(GuardAlert)).all()
    return alert


def test_school_admin_sees_their_alerts_with_evidence_and_others_get_404(
    app: Flask,
    session: Session,
    school: School,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    guardian = new_guardian()
    _four_devices(guardian, device)
    alert = _alert(session)

    admin, _ = _staff_client(app, session, StaffRole.SCHOOL_ADMIN, school)
    listing = admin.get("/guard/alerts").get_data(as_text=True)
    assert alert.reference in listing
    page = admin.get(f"/guard/alerts/{alert.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "+30" in html
    assert 'id="action-dismiss"' in html
    family = admin.get(f"/guard/families/{guardian.family_id}")
    assert family.status_code == 200
    family_html = family.get_data(as_text=True)
    assert 'id="guard-sessions"' in family_html
    devices_table = family_html.split('id="guard-devices"', 1)[1].split("</table>", 1)[0]
    assert devices_table.count("<td><code>") == 4

    # The chart: today's family sign-ins (four sessions) and alerts (one) of this school.
    chart = dashboard_chart(listing)
    assert (chart["sign_ins"][-1], chart["alerts"][-1]) == (4, 1)
    assert len(chart["labels"]) == 14
    assert admin.get("/static/vendor/chartjs/chart.umd.js").status_code == 200

    other, _ = _staff_client(app, session, StaffRole.SCHOOL_ADMIN, make_school(session))
    other_listing = other.get("/guard/alerts").get_data(as_text=True)
    assert alert.reference not in other_listing
    assert (
        dashboard_chart(other_listing)["sign_ins"][-1],
        dashboard_chart(other_listing)["alerts"][-1],
    ) == (0, 0)
    assert other.get(f"/guard/alerts/{alert.id}").status_code == 404
    assert other.post(f"/guard/alerts/{alert.id}/revoke").status_code == 404
    assert other.get(f"/guard/families/{guardian.family_id}").status_code == 404

    operator, _ = _staff_client(app, session, StaffRole.OPERATOR, None)
    assert alert.reference in operator.get("/guard/alerts").get_data(as_text=True)


def test_bad_input_on_the_dashboard_is_a_clear_4xx(
    app: Flask,
    session: Session,
    school: School,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    _four_devices(new_guardian(), device)
    alert = _alert(session)
    admin, _ = _staff_client(app, session, StaffRole.SCHOOL_ADMIN, school)
    assert admin.get("/guard/alerts?status=nonsense").status_code == 400
    assert admin.post(f"/guard/alerts/{alert.id}/explode").status_code == 404
    assert admin.post("/guard/alerts/99999999/dismiss").status_code == 404
    admin.post(f"/guard/alerts/{alert.id}/lift")
    # A closed alert cannot be acted on again.
    assert admin.post(f"/guard/alerts/{alert.id}/block").status_code == 409


def test_an_administrator_blocks_then_lifts_and_every_step_is_audited(
    app: Flask,
    session: Session,
    school: School,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    guardian = new_guardian()
    browsers = _four_devices(guardian, device)
    alert = _alert(session)
    admin, _staff = _staff_client(app, session, StaffRole.SCHOOL_ADMIN, school)

    assert admin.post(f"/guard/alerts/{alert.id}/block").status_code == 303
    assert _alert(session).step is Step.BLOCK
    # The devices the account already had keep working; a new one is refused.
    assert browsers[0].get("/events").status_code == 200
    newcomer = device(guardian)
    assert newcomer.get("/events").status_code == 403

    assert admin.post(f"/guard/alerts/{alert.id}/lift").status_code == 303
    assert _alert(session).status is AlertStatus.LIFTED
    # Lifting undoes the response, not the signals: the refused fifth device counted,
    # and five devices climb afresh to a step-up rather than the block.
    again = newcomer.get("/events")
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/account/step-up")

    actions = [
        e.action
        for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        if e.action.startswith("guard.")
    ]
    assert actions == ["guard.notice", "guard.staff_block", "guard.staff_lift", "guard.step_up"]


def test_an_administrators_step_up_sends_the_family_to_the_step_up_page(
    app: Flask,
    session: Session,
    school: School,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    guardian = new_guardian()
    browsers = _four_devices(guardian, device)
    alert = _alert(session)
    admin, _ = _staff_client(app, session, StaffRole.SCHOOL_ADMIN, school)
    assert admin.post(f"/guard/alerts/{alert.id}/step_up").status_code == 303
    response = browsers[1].get("/events/1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/step-up?next=/events/1"


def test_the_report_prints_each_entity_with_score_rules_and_step(
    app: Flask,
    session: Session,
    new_guardian: Callable[[], Guardian],
    device: Callable[..., Device],
) -> None:
    guardian = new_guardian()
    browsers = [device(guardian) for _ in range(5)]
    for browser in browsers:
        browser.get("/events")

    result = app.test_cli_runner().invoke(guard, ["report", "--since", "1h", "--json"])
    assert result.exit_code == 0, result.output
    (entity,) = json.loads(result.output)["entities"]
    assert entity["entity"] == f"account:{guardian.id}"
    assert entity["score"] == 60
    assert entity["step"] == "step_up"
    assert entity["step_at"] is not None
    assert {r["rule"] for r in entity["rules"]} == {"devices_30d", "devices_at_once"}
    assert entity["rules"][0]["evidence"]["devices"] == 5
    assert [h["kind"] for h in entity["holds"]] == ["step_up"]


def test_the_report_refuses_a_bad_since(app: Flask) -> None:
    result = app.test_cli_runner().invoke(guard, ["report", "--since", "yesterday-ish"])
    assert result.exit_code == 2
    assert "--since" in result.output
