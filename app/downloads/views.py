"""Download pages: asking for a photo and fetching its marked file, ZIPs of an order or an
event, the print lab's export, and the family's download history.

A guardian's "Download" button posts (CSRF) to ask; the answer is a 303 to a link that
works once, for this sign-in, for five minutes; following it makes the marked file,
verifies the mark and sends it. See app/downloads/services.py for the order of work.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from app.auth.models import Guardian
from app.auth.policies import require
from app.deliveries.services import MarkNotVerified, Recipient
from app.downloads.bundles import (
    build_bundle,
    drop_bundle_file,
    fetch_bundle,
    forget_expired_bundles,
    start_family_bundle,
    start_print_export,
    visible_bundle,
)
from app.downloads.models import Bundle, BundleKind, BundleStatus
from app.downloads.services import (
    DownloadFailed,
    LinkGone,
    download_history,
    family_entitlement,
    make_file,
    open_link,
    request_download,
    spend,
)
from app.errors import NotFound
from app.extensions import client_ip, limiter
from app.guard.rules import SignalKind
from app.guard.watch import watched
from app.i18n import gettext as _
from app.jobs import QueueUnavailable
from app.network import database_date
from app.orders.models import Order
from app.orders.policies import can_export_prints, owns_order
from app.photos.models import Photo
from app.studio.web import known_event
from app.web.audit import audit
from app.web.context import blobs, db_session, now, runtime, watermarks
from app.web.devices import device_hash
from app.web.identity import (
    account_required,
    current_signed_in,
    current_staff,
    family_member,
    guardian_required,
    rate_key,
    signed_in_or_403,
    staff_or_403,
    staff_required,
)

logger = logging.getLogger(__name__)

bp = Blueprint("downloads", __name__, template_folder="templates")

#: How often the ZIP page looks again while the ZIP is being made (seconds).
BUNDLE_REFRESH = 2


def _family_key() -> str:
    signed_in = current_signed_in()
    guardian = signed_in.guardian if signed_in is not None else None
    if guardian is not None and guardian.family_id is not None:
        return f"family:{guardian.family_id}"
    return client_ip()


def _recipient(guardian: Guardian | None, family_id: int | None) -> Recipient:
    signed_in = signed_in_or_403()
    return Recipient(
        guardian=guardian,
        family_id=family_id,
        session_id=signed_in.record.id,
        device_hash=device_hash(),
        ip=client_ip(),
        user_agent=request.headers.get("User-Agent", ""),
    )


def _file_names(photo: Photo) -> tuple[str, str]:
    """The saved file's name: the event's title and the photo number (Japanese kept, for
    ``filename*``), and an ASCII one for browsers that read only ``filename``."""
    title = unicodedata.normalize("NFC", photo.event.title)
    readable = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', "_", title).strip(" ._")[:80]
    ascii_name = f"photogate-{photo.event_id}-{photo.id}.jpg"
    return (f"{readable}_{photo.id}.jpg" if readable else ascii_name), ascii_name


def _attachment(data: bytes, mimetype: str, name: str, ascii_name: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# -- one photo -----------------------------------------------------------------------------


@bp.post("/downloads/entitlements/<id:entitlement_id>")
@guardian_required
@watched(SignalKind.DOWNLOAD)
@limiter.limit("30/hour", key_func=rate_key)
@limiter.limit("60/hour", key_func=_family_key)
def ask(entitlement_id: int) -> WerkzeugResponse:
    """Make the delivery and a one-use link to it, then send the browser there."""
    guardian, family = family_member()
    session = db_session()
    entitlement = family_entitlement(session, family.id, entitlement_id)
    made = request_download(
        session,
        entitlement,
        _recipient(guardian, family.id),
        key_id=watermarks().current_id,
        now=now(),
    )
    audit("download.requested", subject=f"delivery:{made.link.delivery_id}")
    session.commit()
    return redirect(url_for("downloads.fetch", token=made.token), code=303)


@bp.get("/downloads/file/<token>")
@guardian_required
@limiter.limit("60/hour", key_func=rate_key)
@limiter.limit("120/hour", key_func=_family_key)
def fetch(token: str) -> Response:
    """The marked file, verified, sent once; one download spent as it is sent."""
    _guardian, family = family_member()
    session = db_session()
    ready = open_link(
        session,
        token,
        session_id=signed_in_or_403().record.id,
        family_id=family.id,
        now=now(),
    )
    try:
        marked = make_file(blobs(), watermarks(), ready)
    except MarkNotVerified as error:
        # The operator's alert: an audit row anyone reviewing the log sees, and an error
        # in the application log that monitoring pages on.
        logger.error("ALERT download %s refused: %s", ready.delivery.id, error)
        audit(
            "alert.mark_not_verified",
            subject=f"delivery:{ready.delivery.id}",
            details={"score": f"{error.score:.2f}", "bit_errors": error.bit_errors},
        )
        session.commit()
        raise DownloadFailed(
            _(
                "The photo could not be checked before sending, so it was not sent. Nothing "
                "was used up; the operator has been told. Please try again later."
            )
        ) from None
    if not spend(session, ready, marked, now()):
        session.rollback()
        raise LinkGone(_("This download link was already used. Ask for the photo again."))
    audit(
        "download.sent",
        subject=f"delivery:{ready.delivery.id}",
        details={"sha256": marked.sha256, "bytes": len(marked.data)},
    )
    session.commit()
    name, ascii_name = _file_names(ready.photo)
    return _attachment(marked.data, "image/jpeg", name, ascii_name)


@bp.get("/downloads/history")
@guardian_required
def history() -> str:
    _guardian, family = family_member()
    return render_template(
        "downloads/history.html",
        family=family,
        rows=download_history(db_session(), family.id),
        network_date=database_date(),
    )


# -- ZIPs ------------------------------------------------------------------------------------


def _queue(bundle: Bundle) -> None:
    """Run the job inline or queue it; a queue that cannot be reached fails the bundle
    (nothing was spent) and says so."""
    try:
        runtime().enqueue(build_bundle, bundle.id, job_id=f"bundle-{bundle.id}")
    except QueueUnavailable as error:
        logger.warning("bundle %s not queued: %s", bundle.id, error)
        session = db_session()
        bundle.status = BundleStatus.FAILED
        bundle.failure = _("The ZIP could not be started just now; nothing was used up.")
        session.commit()


def _start_family_zip(kind: BundleKind, **target: int) -> WerkzeugResponse:
    guardian, family = family_member()
    session = db_session()
    bundle = start_family_bundle(
        session,
        kind=kind,
        family_id=family.id,
        school_id=family.school_id,
        recipient=_recipient(guardian, family.id),
        now=now(),
        **target,
    )
    audit("download.zip_requested", subject=f"bundle:{bundle.id}", details={"files": bundle.total})
    session.commit()
    _queue(bundle)
    return redirect(url_for("downloads.show_bundle", bundle_id=bundle.id), code=303)


@bp.post("/downloads/orders/<id:order_id>/zip")
@guardian_required
@watched(SignalKind.DOWNLOAD)
@limiter.limit("10/hour", key_func=rate_key)
@limiter.limit("20/hour", key_func=_family_key)
def order_zip(order_id: int) -> WerkzeugResponse:
    guardian, _family = family_member()
    order = db_session().get(Order, order_id)
    if order is None or not owns_order(guardian, order):
        raise NotFound()
    return _start_family_zip(BundleKind.ORDER, order_id=order.id)


@bp.post("/downloads/events/<id:event_id>/zip")
@guardian_required
@watched(SignalKind.DOWNLOAD)
@limiter.limit("10/hour", key_func=rate_key)
@limiter.limit("20/hour", key_func=_family_key)
def event_zip(event_id: int) -> WerkzeugResponse:
    return _start_family_zip(BundleKind.EVENT, event_id=event_id)


@bp.post("/studio/events/<id:event_id>/prints/export")
@staff_required
@limiter.limit("20/hour", key_func=rate_key)
def print_export(event_id: int) -> WerkzeugResponse:
    staff = staff_or_403()
    event = known_event(staff, event_id)
    require(can_export_prints(staff, event))
    session = db_session()
    bundle = start_print_export(session, event, staff, _recipient(None, None), now=now())
    audit("prints.export_requested", subject=f"bundle:{bundle.id}", details={"files": bundle.total})
    session.commit()
    _queue(bundle)
    return redirect(url_for("downloads.show_bundle", bundle_id=bundle.id), code=303)


def _bundle(bundle_id: int) -> Bundle:
    signed_in = signed_in_or_403()
    session = db_session()
    forget_expired_bundles(session, blobs(), now=now())
    session.commit()
    guardian = signed_in.guardian
    return visible_bundle(
        session,
        bundle_id,
        family_id=guardian.family_id if guardian is not None else None,
        staff=current_staff(),
    )


def _bundle_state(bundle: Bundle) -> dict[str, Any]:
    return {
        "status": bundle.status.value,
        "done": bundle.done,
        "total": bundle.total,
        "failure": bundle.failure,
        "url": url_for("downloads.bundle_file", bundle_id=bundle.id)
        if bundle.status is BundleStatus.READY
        else None,
    }


@bp.get("/downloads/bundles/<id:bundle_id>")
@account_required
def show_bundle(bundle_id: int) -> Response:
    bundle = _bundle(bundle_id)
    working = bundle.status in (BundleStatus.QUEUED, BundleStatus.RUNNING)
    response = Response(
        render_template(
            "downloads/bundle.html", bundle=bundle, working=working, refresh=BUNDLE_REFRESH
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/downloads/bundles/<id:bundle_id>.json")
@account_required
def bundle_state(bundle_id: int) -> Response:
    response = jsonify(_bundle_state(_bundle(bundle_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/downloads/bundles/<id:bundle_id>/zip")
@account_required
@limiter.limit("30/hour", key_func=rate_key)
def bundle_file(bundle_id: int) -> Response:
    """The ZIP, once, for the sign-in that asked; deleted once it is sent."""
    bundle = _bundle(bundle_id)
    session = db_session()
    data = fetch_bundle(
        session, blobs(), bundle, session_id=signed_in_or_403().record.id, now=now()
    )
    audit("download.zip_sent", subject=f"bundle:{bundle.id}", details={"bytes": len(data)})
    session.commit()
    drop_bundle_file(session, blobs(), bundle)
    session.commit()
    stem = "prints" if bundle.kind is BundleKind.PRINT else "photos"
    name = f"photogate-{stem}-{bundle.id}.zip"
    return _attachment(data, "application/zip", name, name)
