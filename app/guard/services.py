"""The response ladder: from an entity's score to a step, the alert that records it, the
holds that enforce it, and what an administrator may do about it (dismiss as a known
household, step up, block, revoke, lift).

Services take the database session and flush, never commit; they import nothing from
Flask. The caller audits each :class:`Decision` and commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import bindparam, delete, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from app.auth.models import Guardian, StaffUser, UserSession
from app.auth.sessions import end_all_sessions
from app.deliveries.models import Delivery, DeliveryKind
from app.errors import Conflict, Invalid
from app.guard.models import (
    AlertStatus,
    GuardAlert,
    GuardHold,
    GuardHousehold,
    GuardStepUp,
    HoldKind,
    Step,
)
from app.guard.rules import (
    Observation,
    Score,
    SignalKind,
    account_entity,
    device_entity,
    pair_entity,
    record,
    score,
)
from app.guard.store import RETENTION, Read, SignalStore
from app.i18n import lazy_gettext as _l
from app.photos.models import Event, Photo
from app.schools.models import Family

logger = logging.getLogger(__name__)

BLOCK_FOR: Final = dt.timedelta(hours=24)
#: How far back the dashboard lists an account's devices (the devices rule's window).
DEVICE_WINDOW: Final = dt.timedelta(days=30)
_REFERENCE_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

#: Rules whose request is answered 429 (the account keeps its access, at a person's pace).
THROTTLED_RULES: Final = frozenset({"previews_scraped", "downloads_beyond_purchases"})

#: Why a rule fired, in words a family and a school understand.
RULE_TEXT: Final = {
    "devices_30d": _l("Many different devices used this account in the last 30 days."),
    "devices_at_once": _l("More than four devices used this account within 15 minutes."),
    "networks_24h": _l("This account was used from more than three networks in a day."),
    "countries_7d": _l("This account was used from more than two countries in a week."),
    "impossible_travel": _l(
        "One device used this account from two countries too far apart for the time between them."
    ),
    "countries_at_once": _l("Devices in two countries used this account within two hours."),
    "previews_scraped": _l("Previews were opened faster than a person looks at photos."),
    "downloads_beyond_purchases": _l(
        "Downloads were asked for far more often in a day than the family's purchases allow."
    ),
    "session_moved": _l("A sign-in was used from another device or browser than its own."),
    "families_per_device": _l("One device signed in to several families' accounts."),
    "families_per_browser_on_network": _l(
        "Freshly cleared browsers on one network signed in to many families' accounts."
    ),
    "families_per_network": _l("One network signed in to many families' accounts in an hour."),
}

STEP_TEXT: Final = {
    Step.LOG: _l("Recorded only."),
    Step.NOTICE: _l("A new device signed in: the family and the school are told."),
    Step.STEP_UP: _l("Please sign in again at your account provider to continue."),
    Step.BLOCK: _l("New devices are blocked for 24 hours and the school has been alerted."),
    Step.REVOKE: _l(
        "All sign-ins were ended and downloads suspended; the school will re-issue access."
    ),
}


def step_for(points: int) -> Step:
    """The ladder: below 30 log, 30 notice, 60 step-up, 80 block, 100 revoke."""
    if points >= 100:
        return Step.REVOKE
    if points >= 80:
        return Step.BLOCK
    if points >= 60:
        return Step.STEP_UP
    if points >= 30:
        return Step.NOTICE
    return Step.LOG


@dataclass(frozen=True)
class Decision:
    """A rung an entity reached (or an administrator applied): audit it."""

    alert: GuardAlert
    step: Step
    entity: str
    holds: tuple[GuardHold, ...] = ()
    sessions_ended: int = 0


@dataclass(frozen=True)
class Verdict:
    """What the current request gets."""

    allow: bool = True
    step_up: bool = False
    throttle: bool = False
    reason: str = ""
    reference: str = ""
    decisions: tuple[Decision, ...] = ()
    scores: tuple[Score, ...] = field(default_factory=tuple)


def new_reference() -> str:
    return "G-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def households_for(session: Session, entities: Collection[str]) -> dict[str, set[str]]:
    """The known-household members of each of ``entities``."""
    found: dict[str, set[str]] = {}
    rows = session.execute(
        select(GuardHousehold.entity, GuardHousehold.member).where(
            GuardHousehold.entity.in_(list(entities))
        )
    )
    for entity, member in rows:
        found.setdefault(entity, set()).add(member)
    return found


# Built once: building a statement costs more than running it on the request path.
_STATE = union_all(
    select(
        literal("m").label("source"),
        GuardHousehold.entity,
        GuardHousehold.member.label("value"),
        GuardHousehold.created_at,
        null().label("alert_id"),
    ).where(GuardHousehold.entity.in_(bindparam("known", expanding=True))),
    select(
        literal("h"),
        GuardHold.entity,
        GuardHold.__table__.c.kind,
        GuardHold.created_at,
        GuardHold.alert_id,
    ).where(
        GuardHold.entity.in_(bindparam("held", expanding=True)),
        GuardHold.lifted_at.is_(None),
        or_(GuardHold.expires_at.is_(None), GuardHold.expires_at > bindparam("now")),
    ),
)


@dataclass(frozen=True)
class HoldInForce:
    """What a request needs of a hold."""

    kind: HoldKind
    entity: str
    created_at: dt.datetime
    alert_id: int | None
    reason: str


def guard_state(
    session: Session,
    hold_entities: Collection[str],
    household_entities: Collection[str],
    *,
    now: dt.datetime,
) -> tuple[list[HoldInForce], dict[str, set[str]]]:
    """The holds in force on ``hold_entities`` and the known households of
    ``household_entities``, in one statement: the request path pays one round trip."""
    in_force: list[HoldInForce] = []
    known: dict[str, set[str]] = {}
    for source, entity, value, created_at, alert_id in session.execute(
        _STATE,
        {"held": list(hold_entities), "known": list(household_entities) or [""], "now": now},
    ):
        if source == "m":
            known.setdefault(entity, set()).add(value)
        else:
            in_force.append(HoldInForce(HoldKind(value), entity, created_at, alert_id, ""))
    return in_force, known


def holds_in_force(
    session: Session, entities: Collection[str], *, now: dt.datetime
) -> list[GuardHold]:
    """The holds on ``entities`` neither lifted nor expired."""
    return list(
        session.scalars(
            select(GuardHold).where(
                GuardHold.entity.in_(list(entities)),
                GuardHold.lifted_at.is_(None),
                or_(GuardHold.expires_at.is_(None), GuardHold.expires_at > now),
            )
        )
    )


def _hold(
    session: Session,
    alert: GuardAlert,
    entity: str,
    kind: HoldKind,
    *,
    now: dt.datetime,
    expires: dt.timedelta | None,
    reason: str,
) -> GuardHold:
    hold = GuardHold(
        alert_id=alert.id,
        entity=entity,
        kind=kind,
        reason=reason[:64],
        created_at=now,
        expires_at=now + expires if expires is not None else None,
    )
    session.add(hold)
    return hold


def _apply(
    session: Session,
    alert: GuardAlert,
    step: Step,
    *,
    now: dt.datetime,
    guardian: Guardian | None,
    known: Sequence[str] = (),
) -> Decision:
    """Put ``step``'s holds on the alert's entity (flushed)."""
    entity = alert.entity
    reason = alert.findings[0]["rule"] if alert.findings else "administrator"
    holds: list[GuardHold] = []
    ended = 0
    kind_of_entity = entity.split(":", 1)[0]
    if step is Step.STEP_UP and guardian is not None:
        holds.append(
            _hold(
                session,
                alert,
                account_entity(guardian.id),
                HoldKind.STEP_UP,
                now=now,
                expires=None,
                reason=reason,
            )
        )
    elif step is Step.BLOCK:
        if kind_of_entity == "account":
            # Devices the account already had keep working; new ones are refused.
            hold = _hold(
                session, alert, entity, HoldKind.BLOCK, now=now, expires=BLOCK_FOR, reason=reason
            )
            alert.findings = [
                *alert.findings,
                {"rule": "kept_devices", "points": 0, "evidence": {"devices": list(known)}},
            ]
            holds.append(hold)
        else:
            holds.append(
                _hold(
                    session,
                    alert,
                    entity,
                    HoldKind.BLOCK,
                    now=now,
                    expires=BLOCK_FOR,
                    reason=reason,
                )
            )
    elif step is Step.REVOKE:
        if kind_of_entity == "account" and guardian is not None:
            ended = end_all_sessions(session, guardian, now=now, reason="guard_revoked")
            holds.append(
                _hold(
                    session, alert, entity, HoldKind.SUSPEND, now=now, expires=None, reason=reason
                )
            )
        else:
            holds.append(
                _hold(session, alert, entity, HoldKind.BLOCK, now=now, expires=None, reason=reason)
            )
    alert.step = step
    alert.timeline = [
        *alert.timeline,
        {"step": str(step), "at": now.isoformat(), "score": alert.score},
    ]
    alert.updated_at = now
    session.flush()
    return Decision(alert=alert, step=step, entity=entity, holds=tuple(holds), sessions_ended=ended)


def _findings_json(score: Score) -> list[dict[str, Any]]:
    return [
        {"rule": f.rule, "points": f.points, "evidence": dict(f.evidence)} for f in score.findings
    ]


def respond(
    session: Session,
    scores: Sequence[Score],
    o: Observation,
    *,
    guardian: Guardian | None,
    now: dt.datetime,
) -> list[Decision]:
    """Climb the ladder for every entity whose score reached a higher step (flushed)."""
    decisions: list[Decision] = []
    for scored in scores:
        points = scored.points
        step = step_for(points)
        if step is Step.LOG:
            if points:
                logger.info("guard %s scored %d", scored.entity, points)
            continue
        alert = session.scalar(
            select(GuardAlert)
            .where(GuardAlert.entity == scored.entity, GuardAlert.status == AlertStatus.OPEN)
            .order_by(GuardAlert.id.desc())
            .limit(1)
        )
        evidence = [
            *_findings_json(scored),
            {
                "rule": "seen_with",
                "points": 0,
                "evidence": {
                    "members": scored.members[:50],
                    "prefix": o.prefix,
                    "owner": o.owner,
                    "country": o.country,
                    "agent": o.agent,
                    "kind": str(o.kind),
                },
            },
        ]
        if alert is None:
            alert = GuardAlert(
                reference=new_reference(),
                entity=scored.entity,
                guardian_id=o.guardian_id,
                school_id=o.school_id,
                score=points,
                step=Step.LOG,
                findings=evidence,
                timeline=[],
                created_at=now,
                updated_at=now,
            )
            session.add(alert)
            session.flush()
        elif step.rank <= alert.step.rank:
            if points > alert.score:
                alert.score = points
                alert.findings = evidence
                alert.updated_at = now
                session.flush()
            continue
        alert.score = max(points, alert.score)
        alert.findings = evidence
        known = [m for m in scored.members if m != o.device]
        decisions.append(_apply(session, alert, step, now=now, guardian=guardian, known=known))
    return decisions


def _kept_devices(session: Session, hold: GuardHold | HoldInForce) -> set[str]:
    alert = session.get(GuardAlert, hold.alert_id) if hold.alert_id is not None else None
    if alert is None:
        return set()
    for finding in alert.findings:
        if finding.get("rule") == "kept_devices":
            return set(finding.get("evidence", {}).get("devices", []))
    return set()


def _alert_facts(session: Session, alert_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Each alert's reference and the first rule that fired (the reason a refusal names)."""
    if not alert_ids:
        return {}
    found: dict[int, tuple[str, str]] = {}
    for alert_id, reference, findings in session.execute(
        select(GuardAlert.id, GuardAlert.reference, GuardAlert.findings).where(
            GuardAlert.id.in_(alert_ids)
        )
    ):
        rules = [f.get("rule", "") for f in findings or [] if f.get("points")]
        found[alert_id] = (reference, rules[0] if rules else "administrator")
    return found


def _stepped_up(session: Session, session_id: int | None, since: dt.datetime) -> bool:
    if session_id is None:
        return False
    verified = session.scalar(
        select(GuardStepUp.verified_at).where(GuardStepUp.session_id == session_id)
    )
    return verified is not None and verified >= since


def judge(
    session: Session,
    o: Observation,
    scores: Sequence[Score],
    decisions: Sequence[Decision],
    *,
    holds: Sequence[HoldInForce],
    now: dt.datetime,
) -> Verdict:
    """What the request of ``o`` gets, from the holds in force (including new ones)."""
    account = account_entity(o.guardian_id)
    device = device_entity(o.device)
    pair = pair_entity(o.prefix, o.agent)
    # The common case has no hold at all, and no query for their alerts.
    facts = _alert_facts(session, [h.alert_id for h in holds if h.alert_id is not None])
    step_up = False
    for hold in sorted(holds, key=lambda h: h.created_at):
        reference, reason = facts.get(hold.alert_id or 0, ("", "administrator"))
        refused = (
            (hold.kind is HoldKind.SUSPEND and hold.entity == account)
            or (hold.kind is HoldKind.BLOCK and hold.entity == device)
            or (
                hold.kind is HoldKind.BLOCK and hold.entity == pair and o.kind is SignalKind.SIGN_IN
            )
            or (
                hold.kind is HoldKind.BLOCK
                and hold.entity == account
                and o.device not in _kept_devices(session, hold)
            )
        )
        if refused:
            return Verdict(
                allow=False,
                reason=reason,
                reference=reference,
                decisions=tuple(decisions),
                scores=tuple(scores),
            )
        if hold.kind is HoldKind.STEP_UP and not _stepped_up(
            session, o.session_id, hold.created_at
        ):
            step_up = True
    throttle = any(
        f.rule in THROTTLED_RULES for s in scores if s.entity == account for f in s.findings
    )
    return Verdict(
        step_up=step_up, throttle=throttle, decisions=tuple(decisions), scores=tuple(scores)
    )


def observe(
    session: Session,
    store: SignalStore,
    o: Observation,
    *,
    guardian: Guardian | None,
    school_networks: Collection[str] = (),
    now: dt.datetime,
) -> Verdict:
    """Record ``o``, score it, climb the ladder where a score calls for it (flushed), and
    say what the request gets."""
    windows = record(store, o)
    account, device = account_entity(o.guardian_id), device_entity(o.device)
    held_entities = [account, device, pair_entity(o.prefix, o.agent)]
    holds, households = guard_state(session, held_entities, [account, device], now=now)
    scores = score(o, windows, households=households, school_networks=school_networks)
    decisions = respond(session, scores, o, guardian=guardian, now=now)
    if decisions:
        # Rare: a step was just reached; its holds count for this very request.
        holds, _ = guard_state(session, held_entities, [], now=now)
    return judge(session, o, scores, decisions, holds=holds, now=now)


def record_step_up(
    session: Session, guardian: Guardian, session_id: int, *, now: dt.datetime
) -> GuardStepUp:
    """Note that ``session_id`` began with a fresh authentication at the provider (flushed)."""
    row = GuardStepUp(guardian_id=guardian.id, session_id=session_id, verified_at=now)
    session.add(row)
    session.flush()
    return row


def step_up_pending(
    session: Session, guardian: Guardian, session_id: int | None, *, now: dt.datetime
) -> bool:
    """Whether a step-up hold waits for this session."""
    holds = holds_in_force(session, [account_entity(guardian.id)], now=now)
    return any(
        hold.kind is HoldKind.STEP_UP and not _stepped_up(session, session_id, hold.created_at)
        for hold in holds
    )


# -- what administrators do ------------------------------------------------------------


def _open(alert: GuardAlert) -> None:
    if alert.status is not AlertStatus.OPEN:
        raise Conflict(_l("This alert is already closed."))


def lift_holds(session: Session, alert: GuardAlert, *, now: dt.datetime) -> int:
    """Lift every hold of ``alert`` still in force (flushed); return how many."""
    lifted = 0
    for hold in session.scalars(
        select(GuardHold).where(GuardHold.alert_id == alert.id, GuardHold.lifted_at.is_(None))
    ):
        hold.lifted_at = now
        lifted += 1
    session.flush()
    return lifted


def dismiss_as_household(
    session: Session, actor: StaffUser, alert: GuardAlert, *, now: dt.datetime
) -> int:
    """Close ``alert`` as a known household: lift its holds and stop counting the devices
    (or families) it was seen with for its entity. Returns how many members were kept."""
    _open(alert)
    members: set[str] = set()
    for finding in alert.findings:
        evidence = finding.get("evidence", {})
        if finding.get("rule") in ("seen_with",):
            members.update(str(m) for m in evidence.get("members", []))
    existing = households_for(session, [alert.entity]).get(alert.entity, set())
    for member in sorted(members - existing):
        session.add(
            GuardHousehold(
                entity=alert.entity, member=member[:200], created_at=now, created_by_id=actor.id
            )
        )
    lift_holds(session, alert, now=now)
    alert.status = AlertStatus.DISMISSED
    alert.resolved_at = now
    alert.resolved_by_id = actor.id
    session.flush()
    return len(members)


def lift(session: Session, actor: StaffUser, alert: GuardAlert, *, now: dt.datetime) -> int:
    """Undo the response to ``alert``: lift its holds and close it (flushed)."""
    _open(alert)
    lifted = lift_holds(session, alert, now=now)
    alert.status = AlertStatus.LIFTED
    alert.resolved_at = now
    alert.resolved_by_id = actor.id
    session.flush()
    return lifted


MANUAL_STEPS: Final = (Step.STEP_UP, Step.BLOCK, Step.REVOKE)


def apply_step(
    session: Session, actor: StaffUser, alert: GuardAlert, step: Step, *, now: dt.datetime
) -> Decision:
    """An administrator's response to an alert (flushed)."""
    _open(alert)
    if step not in MANUAL_STEPS:
        raise Invalid(_l("Unknown action."))
    guardian = session.get(Guardian, alert.guardian_id) if alert.guardian_id else None
    alert.timeline = [
        *alert.timeline,
        {"step": "by_staff", "at": now.isoformat(), "staff": actor.id},
    ]
    known = [
        str(member)
        for finding in alert.findings
        if finding.get("rule") == "seen_with"
        for member in finding.get("evidence", {}).get("members", [])
    ]
    return _apply(session, alert, step, now=now, guardian=guardian, known=known)


@dataclass(frozen=True)
class SeenDevice:
    """A device an account was used from, as the dashboard shows it."""

    device: str
    last_seen: dt.datetime
    known_household: bool


def account_devices(
    session: Session, store: SignalStore, guardian_id: int, *, now: dt.datetime
) -> list[SeenDevice]:
    """The devices ``guardian_id`` was used from in the last 30 days, newest first."""
    entity = account_entity(guardian_id)
    (devices,) = store.read(
        [Read(f"acct:{guardian_id}:devices", (now - DEVICE_WINDOW).timestamp())]
    )
    known = households_for(session, [entity]).get(entity, set())
    return [
        SeenDevice(device, dt.datetime.fromtimestamp(at, dt.UTC), device in known)
        for device, at in sorted(devices.items(), key=lambda item: -item[1])
    ]


def recent_downloads(
    session: Session, guardian_id: int, *, now: dt.datetime, limit: int = 50
) -> list[Delivery]:
    """The guardian's full-resolution downloads of the last 30 days, newest first: asked
    for (a link made) and, when ``sent_at`` is set, sent."""
    return list(
        session.scalars(
            select(Delivery)
            .where(
                Delivery.guardian_id == guardian_id,
                Delivery.kind == DeliveryKind.DOWNLOAD,
                Delivery.created_at >= now - DEVICE_WINDOW,
            )
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Daily:
    """Sign-ins, downloads and alerts per day, oldest first, for the dashboard's chart."""

    days: list[str]
    sign_ins: list[int]
    alerts: list[int]
    downloads: list[int]


def daily_activity(
    session: Session, school_id: int | None, *, days: int, now: dt.datetime
) -> Daily:
    """Families' sign-ins, full-resolution downloads sent and the guard's alerts per UTC
    day over the last ``days`` days, for one school (``None``: every school)."""
    first = (now - dt.timedelta(days=days - 1)).date()
    labels = [(first + dt.timedelta(days=n)).isoformat() for n in range(days)]
    since = dt.datetime.combine(first, dt.time(), dt.UTC)
    sign_ins = (
        select(UserSession.created_at)
        .join(Guardian, Guardian.id == UserSession.guardian_id)
        .where(UserSession.created_at >= since)
    )
    alerts = select(GuardAlert.created_at).where(GuardAlert.created_at >= since)
    downloads = select(Delivery.sent_at).where(
        Delivery.kind == DeliveryKind.DOWNLOAD,
        Delivery.sent_at.is_not(None),
        Delivery.sent_at >= since,
    )
    if school_id is not None:
        downloads = (
            downloads.join(Photo, Photo.id == Delivery.photo_id)
            .join(Event, Event.id == Photo.event_id)
            .where(Event.school_id == school_id)
        )
        sign_ins = sign_ins.join(Family, Family.id == Guardian.family_id).where(
            Family.school_id == school_id
        )
        alerts = alerts.where(GuardAlert.school_id == school_id)

    def per_day(moments: Sequence[dt.datetime | None]) -> list[int]:
        counts = dict.fromkeys(labels, 0)
        for moment in moments:
            if moment is None:
                continue
            day = moment.astimezone(dt.UTC).date().isoformat()
            if day in counts:
                counts[day] += 1
        return list(counts.values())

    return Daily(
        days=labels,
        sign_ins=per_day(list(session.scalars(sign_ins))),
        alerts=per_day(list(session.scalars(alerts))),
        downloads=per_day(list(session.scalars(downloads))),
    )


def purge(session: Session, store: SignalStore, *, now: dt.datetime) -> tuple[int, int]:
    """Delete signals and alerts older than the retention period (flushed).

    Returns (signals, alerts) deleted."""
    signals = store.purge(now=now.timestamp())
    horizon = now - RETENTION
    alert_ids = list(session.scalars(select(GuardAlert.id).where(GuardAlert.created_at < horizon)))
    if alert_ids:
        session.execute(delete(GuardHold).where(GuardHold.alert_id.in_(alert_ids)))
        session.execute(delete(GuardAlert).where(GuardAlert.id.in_(alert_ids)))
    session.execute(delete(GuardStepUp).where(GuardStepUp.verified_at < horizon))
    session.flush()
    return signals, len(alert_ids)


def report(session: Session, *, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per entity: score, the rules that fired with their evidence, the step reached and
    when, the status and the holds — the interface tests and simulations read."""
    query = select(GuardAlert).order_by(GuardAlert.id)
    if since is not None:
        query = query.where(GuardAlert.updated_at >= since)
    rows = []
    for alert in session.scalars(query):
        holds = session.scalars(select(GuardHold).where(GuardHold.alert_id == alert.id))
        rows.append(
            {
                "reference": alert.reference,
                "entity": alert.entity,
                "kind": alert.entity.split(":", 1)[0],
                "guardian_id": alert.guardian_id,
                "school_id": alert.school_id,
                "score": alert.score,
                "step": str(alert.step),
                "step_at": alert.timeline[-1]["at"] if alert.timeline else None,
                "rules": [f for f in alert.findings if f.get("points")],
                "evidence": [f for f in alert.findings if not f.get("points")],
                "timeline": alert.timeline,
                "status": str(alert.status),
                "holds": [
                    {
                        "kind": str(h.kind),
                        "entity": h.entity,
                        "created_at": h.created_at.isoformat(),
                        "expires_at": h.expires_at.isoformat() if h.expires_at else None,
                        "lifted_at": h.lifted_at.isoformat() if h.lifted_at else None,
                    }
                    for h in holds
                ],
            }
        )
    return rows
