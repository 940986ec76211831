"""The guard on the request path: one function, :func:`observe`, that every watched request
(sign-in, gallery page, preview, download) calls, and the :func:`watched` decorator that
turns its verdict into the answer — a redirect to the step-up page, a 403 page naming the
reason and a reference, a 429 for scraping — or lets the view run.

The cost on the request path: one pipeline of writes and one of reads to the signal store
(Redis, or a dictionary in process), a lookup in the offline network database, and one
indexed statement (holds in force and known households). Alerts are written only when an
entity climbs to a new step.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import (
    Flask,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.models import Guardian, UserSession
from app.auth.sessions import end_session
from app.errors import TooManyRequests
from app.extensions import client_ip
from app.guard.models import Step
from app.guard.notify import roster_contact, send_code, tell_family_of_notice, tell_school_now
from app.guard.rules import Observation, SignalKind
from app.guard.services import RULE_TEXT, STEP_TEXT, Verdict, record_step_up, step_up_pending
from app.guard.services import observe as observe_signals
from app.guard.store import KEY_PREFIX, SignalStore, make_store
from app.i18n import gettext as _
from app.mail.web import send_mail_soon
from app.network import locate
from app.orders.models import Entitlement
from app.urls import safe_next
from app.useragents import parse_agent
from app.web.audit import audit
from app.web.context import db_session, now, runtime, settings
from app.web.devices import device_hash
from app.web.identity import clear_cookie, current_signed_in, session_cookie_name

logger = logging.getLogger(__name__)

STORE_KEY = "photogate.guard_store"
P = ParamSpec("P")
R = TypeVar("R")


def init_guard(app: Flask, store: SignalStore | None = None) -> None:
    """Give ``app`` its signal store (Redis with an in-process fallback, or in process)."""
    held = runtime(app).settings
    # Test applications share one Redis; each gets its own keys.
    prefix = f"{KEY_PREFIX}test-{secrets.token_hex(4)}:" if held.env == "test" else KEY_PREFIX
    app.extensions[STORE_KEY] = store or make_store(held.redis_url, prefix=prefix)


def signal_store() -> SignalStore:
    store: SignalStore = current_app.extensions[STORE_KEY]
    return store


def _purchased(family_id: int | None) -> int:
    """The downloads the family's purchases allow in all (refunded ones left out)."""
    if family_id is None:
        return 0
    total = db_session().scalar(
        select(func.coalesce(func.sum(Entitlement.downloads_allowed), 0)).where(
            Entitlement.family_id == family_id, Entitlement.revoked_at.is_(None)
        )
    )
    return int(total or 0)


def _observation(kind: SignalKind, guardian: Guardian, record: UserSession | None) -> Observation:
    place = locate(client_ip())
    agent = parse_agent(request.headers.get("User-Agent", "")).label
    family = guardian.family
    return Observation(
        kind=kind,
        guardian_id=guardian.id,
        family=f"f{guardian.family_id}" if guardian.family_id is not None else f"g{guardian.id}",
        school_id=family.school_id if family is not None else None,
        session_id=record.id if record is not None else None,
        device=device_hash(),
        agent=agent[:64],
        prefix=place.prefix,
        owner=place.owner,
        country=place.country,
        at=now(),
        purchased=_purchased(guardian.family_id) if kind is SignalKind.DOWNLOAD else 0,
    )


def observe(kind: SignalKind, guardian: Guardian, record: UserSession | None) -> Verdict:
    """Record this request's signals for ``guardian``, climb the ladder where the scores
    call for it (audited and committed at once), and return the verdict."""
    db = db_session()
    observation = _observation(kind, guardian, record)
    verdict = observe_signals(
        db,
        signal_store(),
        observation,
        guardian=guardian,
        school_networks=settings().guard_school_networks,
        now=observation.at,
    )
    for decision in verdict.decisions:
        alert = decision.alert
        audit(
            f"guard.{decision.step}",
            actor=guardian,
            subject=decision.entity[:200],
            details={
                "reference": alert.reference,
                "score": alert.score,
                "rules": ",".join(str(f["rule"]) for f in alert.findings if f.get("points")),
                "sessions_ended": decision.sessions_ended,
            },
        )
        logger.warning(
            "guard %s reached %s (score %d, %s)",
            decision.entity[:40],
            decision.step,
            alert.score,
            alert.reference,
        )
    if verdict.decisions:
        mailed = _tell(db, guardian, verdict)
        db.commit()
        if mailed:
            send_mail_soon()
        if any(
            d.step is Step.NOTICE and d.entity.startswith("account:") for d in verdict.decisions
        ):
            flash(_("A new device signed in to your account. If it was not you, tell your school."))
    return verdict


def _tell(db: Session, guardian: Guardian, verdict: Verdict) -> int:
    """Mail the family of a notice on its account, the school of a block or revoke."""
    mailed = 0
    for decision in verdict.decisions:
        if decision.step is Step.NOTICE and decision.entity == f"account:{guardian.id}":
            mailed += tell_family_of_notice(db, guardian, decision.alert, now=now()) is not None
        elif decision.step in (Step.BLOCK, Step.REVOKE):
            mailed += len(tell_school_now(db, decision.alert, decision.step, now=now()))
    return mailed


def blocked_response(verdict: Verdict) -> WerkzeugResponse:
    """The 403 page that names the reason and the reference."""
    reason = RULE_TEXT.get(verdict.reason)
    html = render_template(
        "guard/blocked.html",
        reason=str(reason)
        if reason is not None
        else _("An administrator restricted this account."),
        reference=verdict.reference,
        step_text=str(STEP_TEXT[Step.BLOCK]),
    )
    response = make_response(html, 403)
    response.headers["Cache-Control"] = "no-store"
    return response


def answer(verdict: Verdict) -> WerkzeugResponse | None:
    """The response a verdict imposes, or None to let the request through."""
    if not verdict.allow:
        return blocked_response(verdict)
    if verdict.step_up:
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("guard.step_up", next=target), code=302)
    if verdict.throttle:
        raise TooManyRequests(60)
    return None


def watched(kind: SignalKind) -> Callable[[Callable[P, R]], Callable[P, R | WerkzeugResponse]]:
    """A view decorator (under ``guardian_required``): observe the request, then answer
    a step-up, a block or scraping before the view runs."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | WerkzeugResponse]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | WerkzeugResponse:
            signed_in = current_signed_in()
            if signed_in is not None and signed_in.guardian is not None:
                imposed = answer(observe(kind, signed_in.guardian, signed_in.record))
                if imposed is not None:
                    return imposed
            return view(*args, **kwargs)

        return wrapper

    return decorate


def after_sign_in(
    guardian: Guardian, record: UserSession, *, afresh: bool, response: WerkzeugResponse
) -> WerkzeugResponse:
    """The guard's part of a family sign-in that just began ``record``.

    A sign-in the provider authenticated afresh (``auth_time`` within this attempt)
    satisfies a pending step-up. A blocked sign-in ends the new session at once and
    answers the 403 page; one that must step up is sent to the step-up page instead of
    where it was going.
    """
    db = db_session()
    if afresh and step_up_pending(db, guardian, None, now=now()):
        contact = roster_contact(guardian)
        if contact is None:
            # No e-mail on the roster: the fresh sign-in at the provider is the step-up.
            record_step_up(db, guardian, record.id, now=now())
            audit("guard.stepped_up", actor=guardian, subject=f"session:{record.id}")
            db.commit()
        else:
            send_code(db, guardian, record.id, contact, key=runtime().keys.codes, now=now())
            audit("guard.code_sent", actor=guardian, subject=f"session:{record.id}")
            db.commit()
            send_mail_soon()
    verdict = observe(SignalKind.SIGN_IN, guardian, record)
    if not verdict.allow:
        end_session(db, record, now=now(), reason="guard_blocked")
        db.commit()
        blocked = blocked_response(verdict)
        clear_cookie(blocked, session_cookie_name())
        g.session_cookie_set = True
        return blocked
    if verdict.step_up:
        target = response.location or ""
        response.location = url_for("guard.step_up", next=safe_next(target, ""))
    return response
