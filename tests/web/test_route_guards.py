"""Every route of the URL map refuses whoever may not use it.

The test walks ``app.url_map``: a route that is not public must send anonymous visitors to
a sign-in page (or answer 401/403/404), and must refuse every signed-in role that is not
listed for it with 403 or 404, for every method it accepts.  A new route without an entry
in ``ACCESS`` (or ``PUBLIC``) fails the test, so nobody has to remember to add a denial
test: the walk makes them decide who may use it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from app.auth.models import Guardian, StaffRole, StaffUser
from app.auth.policies import SYSTEM
from app.auth.sessions import start_session
from app.db import utcnow
from app.downloads.models import Bundle, BundleKind, BundleStatus
from app.families.models import Invitation, InvitationKind
from app.guard.models import GuardAlert, Step
from app.investigate.services import open_case
from app.orders.models import CartItem, PaymentMethod, Product
from app.orders.services import place_order, set_prices
from app.photos.models import Event, Photo, PhotoStatus
from app.photos.processing import process_photo
from app.studio.services import IncomingFile, create_api_token, upload_photos
from app.web.context import runtime
from tests.factories import (
    make_classroom,
    make_event,
    make_family,
    make_guardian,
    make_school,
    make_staff,
    make_student,
)
from tests.studio.support import photo_bytes
from tests.support.web import sign_in


class Role(enum.StrEnum):
    ANONYMOUS = "anonymous"
    GUARDIAN = "guardian"
    PHOTOGRAPHER = "photographer"
    ADMIN = "admin"
    OTHER_ADMIN = "other_admin"  # administrator of another school
    OPERATOR = "operator"


STAFF = frozenset({Role.PHOTOGRAPHER, Role.ADMIN, Role.OTHER_ADMIN, Role.OPERATOR})
SCHOOL_MANAGERS = frozenset({Role.ADMIN, Role.OPERATOR})
EVENT_STAFF = frozenset({Role.PHOTOGRAPHER, Role.ADMIN, Role.OPERATOR})
ACCOUNTS = STAFF | {Role.GUARDIAN}

#: Routes anyone may call (sign-in steps, health, language, static files).
PUBLIC = frozenset(
    {
        "main.home",
        "main.set_language",
        "main.healthz",
        "main.readyz",
        "static",
        "auth.sign_in",
        "auth.start_login",
        "auth.callback",
        "auth.sign_out",
        "auth.staff_sign_in",
        "auth.staff_second_factor",
        "auth.staff_enrol",
        "auth.set_password",
        # Authenticated by Stripe's signature of the body, not by an account.
        "stripe_webhooks.receive",
    }
)
#: Routes authenticated by an API token only: cookies of any account must not open them.
TOKEN_ONLY_PREFIX = "studio_api."

#: Who gets past each route's guard.
ACCESS: dict[str, frozenset[Role]] = {
    "auth.sessions": ACCOUNTS,
    "auth.end_one_session": ACCOUNTS,
    "auth.sign_out_everywhere": ACCOUNTS,
    "families.home": frozenset({Role.GUARDIAN}),
    "gallery.home": frozenset({Role.GUARDIAN}),
    "gallery.show_event": frozenset({Role.GUARDIAN}),
    "gallery.event_photos": frozenset({Role.GUARDIAN}),
    "gallery.show_photo": frozenset({Role.GUARDIAN}),
    "gallery.thumbnail": frozenset({Role.GUARDIAN}),
    "gallery.preview": frozenset({Role.GUARDIAN}),
    "families.join": frozenset({Role.GUARDIAN}),
    "families.invite": frozenset({Role.GUARDIAN}),
    "families.revoke": frozenset({Role.GUARDIAN}),
    "families.remove": frozenset({Role.GUARDIAN}),
    "families.schools": SCHOOL_MANAGERS | {Role.OTHER_ADMIN},
    "families.roster": SCHOOL_MANAGERS,
    "families.roster_preview": SCHOOL_MANAGERS,
    "families.roster_import": SCHOOL_MANAGERS,
    "families.issue_letters": SCHOOL_MANAGERS,
    "families.school_revoke": SCHOOL_MANAGERS,
    "families.family_detail": SCHOOL_MANAGERS,
    "families.school_remove_guardian": SCHOOL_MANAGERS,
    "families.school_revoke_sessions": SCHOOL_MANAGERS,
    "admin.home": STAFF,
    "admin.accounts": SCHOOL_MANAGERS | {Role.OTHER_ADMIN},
    "admin.reset": SCHOOL_MANAGERS,
    "admin.activate": SCHOOL_MANAGERS,
    "admin.deactivate": SCHOOL_MANAGERS,
    "admin.revoke_sessions": SCHOOL_MANAGERS,
    "admin.audit_log": frozenset({Role.OPERATOR}),
    "studio.index": STAFF,
    "studio.show_event": EVENT_STAFF,
    "studio.show_photo": EVENT_STAFF,
    "studio.photo_image": EVENT_STAFF,
    "studio.upload_photos": frozenset({Role.PHOTOGRAPHER}),
    "studio.add_album": EVENT_STAFF,
    "studio.retry": EVENT_STAFF,
    "studio.withhold": SCHOOL_MANAGERS,
    "studio.release": SCHOOL_MANAGERS,
    "studio.hold": SCHOOL_MANAGERS,
    "studio.end_hold": SCHOOL_MANAGERS,
    "studio.release_all_reviewed": SCHOOL_MANAGERS,
    "studio.retention": SCHOOL_MANAGERS,
    "studio.assign": SCHOOL_MANAGERS,
    "studio.unassign": SCHOOL_MANAGERS,
    "studio.tokens": frozenset({Role.PHOTOGRAPHER}),
    "studio.revoke_token": frozenset({Role.PHOTOGRAPHER}),
    "orders.add_to_cart": frozenset({Role.GUARDIAN}),
    "orders.show_cart": frozenset({Role.GUARDIAN}),
    "orders.change_quantity": frozenset({Role.GUARDIAN}),
    "orders.remove_item": frozenset({Role.GUARDIAN}),
    "orders.checkout": frozenset({Role.GUARDIAN}),
    "orders.my_orders": frozenset({Role.GUARDIAN}),
    "orders.show_order": frozenset({Role.GUARDIAN}),
    "orders.cancel_my_order": frozenset({Role.GUARDIAN}),
    "orders.pay": frozenset({Role.GUARDIAN}),
    "orders.receipt": frozenset({Role.GUARDIAN}),
    "orders.entitlements": frozenset({Role.GUARDIAN}),
    "orders.sales": SCHOOL_MANAGERS,
    "orders.sales_csv": SCHOOL_MANAGERS,
    "orders.set_seller": SCHOOL_MANAGERS,
    "orders.event_orders_view": SCHOOL_MANAGERS,
    "orders.school_order_view": SCHOOL_MANAGERS,
    "orders.mark_paid": SCHOOL_MANAGERS,
    "orders.school_cancel": SCHOOL_MANAGERS,
    "orders.refund": SCHOOL_MANAGERS,
    "orders.edit_prices": EVENT_STAFF,
    "downloads.ask": frozenset({Role.GUARDIAN}),
    "downloads.fetch": frozenset({Role.GUARDIAN}),
    "downloads.history": frozenset({Role.GUARDIAN}),
    "downloads.order_zip": frozenset({Role.GUARDIAN}),
    "downloads.event_zip": frozenset({Role.GUARDIAN}),
    "downloads.print_export": EVENT_STAFF,
    # A ZIP is its family's (or the staff member's who asked for a print export).
    "downloads.show_bundle": frozenset({Role.GUARDIAN}),
    "downloads.bundle_state": frozenset({Role.GUARDIAN}),
    "downloads.bundle_file": frozenset({Role.GUARDIAN}),
    "orders.print_list": EVENT_STAFF,
    "investigate.index": SCHOOL_MANAGERS | {Role.OTHER_ADMIN},
    "investigate.open_investigation": SCHOOL_MANAGERS | {Role.OTHER_ADMIN},
    "investigate.search_progress": SCHOOL_MANAGERS | {Role.OTHER_ADMIN},
    "investigate.show_case": SCHOOL_MANAGERS,
    "investigate.suspect_image": SCHOOL_MANAGERS,
    "investigate.suspect_view": SCHOOL_MANAGERS,
    "investigate.source_image": SCHOOL_MANAGERS,
    "investigate.save_notes": SCHOOL_MANAGERS,
    "investigate.close_case": SCHOOL_MANAGERS,
    "investigate.reopen_case": SCHOOL_MANAGERS,
    "investigate.revoke_sessions": SCHOOL_MANAGERS,
    "investigate.suspend_family_downloads": SCHOOL_MANAGERS,
    "investigate.lift_family_downloads": SCHOOL_MANAGERS,
    "investigate.escalate_case": SCHOOL_MANAGERS,
    "investigate.withdraw_case_escalation": SCHOOL_MANAGERS,
    "investigate.report": SCHOOL_MANAGERS,
    "investigate.report_pdf": SCHOOL_MANAGERS,
    "guard.step_up": frozenset({Role.GUARDIAN}),
    "guard.start_step_up": frozenset({Role.GUARDIAN}),
    "guard.enter_step_up_code": frozenset({Role.GUARDIAN}),
    "guard.resend_step_up_code": frozenset({Role.GUARDIAN}),
    "guard.alerts": SCHOOL_MANAGERS | {Role.OTHER_ADMIN},
    "guard.show_alert": SCHOOL_MANAGERS,
    "guard.act_on_alert": SCHOOL_MANAGERS,
    "guard.family": SCHOOL_MANAGERS,
}

SIGN_IN_PAGES = ("/signin", "/staff/signin")


@dataclass
class World:
    """One school with everything a route can name, and an account per role."""

    accounts: dict[Role, StaffUser | Guardian]
    values: dict[str, Any]


@pytest.fixture
def world(app: Flask, session: Session) -> World:
    school, other_school = make_school(session), make_school(session)
    family = make_family(session, school)
    guardian = make_guardian(session, family)
    second_guardian = make_guardian(session, family)
    photographer = make_staff(session, StaffRole.PHOTOGRAPHER)
    admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    colleague = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=school.id)
    other_admin = make_staff(session, StaffRole.SCHOOL_ADMIN, school_id=other_school.id)
    operator = make_staff(session, StaffRole.OPERATOR)
    classroom = make_classroom(session, school)
    make_student(session, family, classroom)
    event = make_event(session, school, audience=[classroom])
    event.photographers.append(photographer)
    photo = _ready_photo(app, session, event)
    invitation = Invitation(
        school_id=school.id,
        family_id=family.id,
        kind=InvitationKind.GUARDIAN,
        code_hash="f" * 64,
        created_at=utcnow(),
        expires_at=utcnow(),
    )
    session.add(invitation)
    session.flush()
    token = create_api_token(session, photographer, "laptop", now=utcnow())
    set_prices(
        session,
        SYSTEM,
        event,
        {Product.DIGITAL: 1200, Product.PRINT_L: 300},
        downloads_allowed=3,
        download_days=30,
        now=utcnow(),
    )
    cart_item = CartItem(family_id=family.id, photo_id=photo.id, product=Product.PRINT_L)
    session.add(cart_item)
    order, _created = place_order(
        session,
        family,
        guardian,
        method=PaymentMethod.INVOICE,
        idempotency_key="route-guards-order",
        confirmed_total_yen=None,
        pay_within=dt.timedelta(days=14),
        now=utcnow(),
    )
    cart_item = CartItem(family_id=family.id, photo_id=photo.id, product=Product.DIGITAL)
    session.add(cart_item)
    bundle = Bundle(
        kind=BundleKind.ORDER,
        status=BundleStatus.FAILED,
        school_id=school.id,
        order_id=order.id,
        family_id=family.id,
        guardian_id=guardian.id,
        session_id=start_session(session, guardian, now=utcnow()).record.id,
        created_at=utcnow(),
    )
    session.add(bundle)
    case, _ = open_case(
        session,
        runtime(app).blobs,
        SYSTEM,
        data=photo_bytes(320, 240, seed=7),
        school_id=school.id,
        limits=runtime(app).limits,
        now=utcnow(),
    )
    case.photo_id = photo.id  # so that the source image of the case exists
    alert = GuardAlert(
        reference="G-ROUTETST",
        entity=f"account:{guardian.id}",
        guardian_id=guardian.id,
        school_id=school.id,
        score=30,
        step=Step.NOTICE,
        findings=[],
        timeline=[],
    )
    session.add(alert)
    session.flush()
    session.commit()
    return World(
        accounts={
            Role.GUARDIAN: guardian,
            Role.PHOTOGRAPHER: photographer,
            Role.ADMIN: admin,
            Role.OTHER_ADMIN: other_admin,
            Role.OPERATOR: operator,
        },
        values={
            "school_id": school.id,
            "family_id": family.id,
            "guardian_id": second_guardian.id,
            "invitation_id": invitation.id,
            "event_id": event.id,
            "photo_id": photo.id,
            "user_id": colleague.id,
            "token_id": token.record.id,
            "order_id": order.id,
            "item_id": cart_item.id,
            "entitlement_id": 1,
            "bundle_id": bundle.id,
            "token": "a-link-that-was-never-made-0123456789",
            # A session id that exists but belongs to nobody signed in here.
            "session_id": 1,
            "kind": "thumbnail",
            "case_id": case.id,
            "alert_id": alert.id,
            "action": "dismiss",
            "provider": "local",
            "key": "a-search-that-was-never-run-0123",
        },
    )


def _ready_photo(app: Flask, session: Session, event: Event) -> Photo:
    """A photo through the real pipeline, so its thumbnail and preview exist."""
    held = runtime(app)
    outcome = upload_photos(
        session,
        held.blobs,
        SYSTEM,
        event,
        [IncomingFile("a.jpg", photo_bytes(320, 240))],
        album_id=None,
        limits=held.limits,
        now=utcnow(),
    )[0]
    assert outcome.photo is not None
    session.commit()
    process_photo(held.database.session_scope, held.blobs, outcome.photo.id, held.limits, utcnow)
    session.refresh(outcome.photo)
    assert outcome.photo.status is PhotoStatus.READY
    return outcome.photo


def _protected_rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in PUBLIC]


def _calls(app: Flask, world: World) -> list[tuple[str, str, str]]:
    calls = []
    for rule in _protected_rules(app):
        url = rule.build(world.values, append_unknown=False)
        assert url is not None, rule.rule
        _, path = url
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            calls.append((rule.endpoint, method, path))
    return calls


def _client_as(app: Flask, session: Session, world: World, role: Role) -> FlaskClient:
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about guards, not CSRF
    client = app.test_client()
    if role is not Role.ANONYMOUS:
        sign_in(app, client, session, world.accounts[role])
    return client


def test_every_protected_route_has_an_access_rule(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in _protected_rules(app)}
    unlisted = sorted(
        e for e in endpoints if e not in ACCESS and not e.startswith(TOKEN_ONLY_PREFIX)
    )
    assert unlisted == []
    assert sorted(set(ACCESS) - endpoints) == []


def test_anonymous_visitors_are_sent_to_sign_in_or_refused(
    app: Flask, session: Session, world: World
) -> None:
    client = _client_as(app, session, world, Role.ANONYMOUS)
    let_through = []
    for endpoint, method, path in _calls(app, world):
        response = client.open(path, method=method)
        location = response.headers.get("Location", "")
        if response.status_code == 302 and location.startswith(SIGN_IN_PAGES):
            continue
        if response.status_code in (401, 403, 404):
            continue
        let_through.append(f"{method} {path} ({endpoint}) -> {response.status_code}")
    assert let_through == []


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ANONYMOUS])
def test_each_role_is_refused_where_it_does_not_belong(
    app: Flask, session: Session, world: World, role: Role
) -> None:
    client = _client_as(app, session, world, role)
    wrong = []
    for endpoint, method, path in _calls(app, world):
        allowed = ACCESS.get(endpoint, frozenset())
        if role in allowed:
            continue
        response = client.open(path, method=method)
        expected = (401,) if endpoint.startswith(TOKEN_ONLY_PREFIX) else (403, 404)
        if response.status_code not in expected:
            wrong.append(f"{method} {path} ({endpoint}) -> {response.status_code}")
    assert wrong == []


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ANONYMOUS])
def test_each_role_gets_past_the_guard_of_its_pages(
    app: Flask, session: Session, world: World, role: Role
) -> None:
    """The other half of the matrix: the pages a role may see are not refused (GET only,
    so nothing is changed)."""
    client = _client_as(app, session, world, role)
    refused = []
    for endpoint, method, path in _calls(app, world):
        if method != "GET" or role not in ACCESS.get(endpoint, frozenset()):
            continue
        response = client.open(path, method=method)
        location = response.headers.get("Location", "")
        if response.status_code in (401, 403, 404) or location.startswith(SIGN_IN_PAGES):
            refused.append(f"GET {path} ({endpoint}) -> {response.status_code}")
    assert refused == []
