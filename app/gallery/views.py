"""What a family sees: their events, each event's photos, and previews marked for the viewer.

Everything a family may not see — another family's or another school's event, a class not
in the audience, a sale not open, a photo withheld, held or not ready — answers 404 (a 403
would confirm it exists), and the refusal is audited. Thumbnails carry no mark (too small to
hold one) but are served only to the families that may see them; every preview carries the
visible viewer overlay and the invisible mark of the viewer's delivery for the day.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as WerkzeugResponse

from app.deliveries.services import Recipient, marked_preview, preview_delivery, viewer_code
from app.errors import NotFound
from app.extensions import client_ip, limiter
from app.gallery.services import EventPage, cover_photos, event_albums, event_page, neighbours
from app.guard.rules import SignalKind
from app.guard.watch import watched
from app.orders.services import bought_photo_ids
from app.photos.blobs import THUMBNAIL, read_derivative
from app.photos.models import Event, Photo
from app.photos.queries import family_events, visible_event, visible_photo
from app.schools.models import Family
from app.web.audit import audit
from app.web.context import blobs, db_session, keys, now, watermarks
from app.web.devices import device_hash
from app.web.identity import (
    current_signed_in,
    family_member,
    guardian_or_403,
    guardian_required,
    rate_key,
)
from app.web.params import int_arg

bp = Blueprint("gallery", __name__, template_folder="templates")

PAGE_SIZE = 60
#: The browser may keep an image for the viewer who asked for it (never a shared cache).
PRIVATE_IMAGE_CACHE = "private, max-age=3600"


def _refuse(subject: str) -> NoReturn:
    """404, and the attempt on the audit log (probing other families' photos is a signal)."""
    audit("gallery.refused", subject=subject, details={"route": request.endpoint or ""})
    db_session().commit()
    raise NotFound()


def _event(family: Family, event_id: int) -> Event:
    event = visible_event(db_session(), family.id, family.school_id, event_id, now())
    if event is None:
        _refuse(f"event:{event_id}")
    return event


def _photo(family: Family, photo_id: int) -> Photo:
    photo = visible_photo(db_session(), family.id, family.school_id, photo_id, now())
    if photo is None:
        _refuse(f"photo:{photo_id}")
    return photo


def _cart_endpoint() -> str | None:
    """Where "add to cart" posts, once ordering is part of the application."""
    return "orders.add_to_cart" if "orders.add_to_cart" in current_app.view_functions else None


@bp.get("/events")
@guardian_required
@watched(SignalKind.PAGE)
def home() -> str | WerkzeugResponse:
    guardian = guardian_or_403()
    family = guardian.family
    if family is None:
        return redirect(url_for("families.home"))
    moment = now()
    open_events, closed = family_events(db_session(), family.id, family.school_id, moment)
    covers = cover_photos(db_session(), [event.id for event in open_events])
    bought = bought_photo_ids(
        db_session(), family.id, [event.id for event in [*open_events, *closed]]
    )
    closes_in = {
        event.id: max(0, math.ceil((event.sale_ends_at - moment).total_seconds() / 86400))
        for event in open_events
    }
    return render_template(
        "gallery/home.html",
        family=family,
        open_events=open_events,
        closed_events=closed,
        covers=covers,
        closes_in=closes_in,
        bought=bought,
    )


def _filters() -> dict[str, Any]:
    chosen = {
        "album": int_arg(request.args, "album", 0),
        "class": int_arg(request.args, "class", 0),
    }
    return {name: value for name, value in chosen.items() if value}


def _page(event: Event, *, count: bool = True) -> EventPage:
    filters = _filters()
    return event_page(
        db_session(),
        event,
        after=int_arg(request.args, "after", 0),
        limit=PAGE_SIZE,
        album_id=filters.get("album"),
        classroom_id=filters.get("class"),
        count=count,
    )


@bp.get("/events/<id:event_id>")
@guardian_required
@watched(SignalKind.PAGE)
def show_event(event_id: int) -> str:
    _guardian, family = family_member()
    event = _event(family, event_id)
    page = _page(event)
    filters = _filters()
    albums = event_albums(db_session(), event)
    return render_template(
        "gallery/event.html",
        event=event,
        albums=albums,
        page=page,
        filters=filters,
        classes=sorted(
            {album.classroom for album in albums if album.classroom is not None},
            key=lambda classroom: classroom.label,
        ),
        cart_endpoint=_cart_endpoint(),
        closes_in=max(0, math.ceil((event.sale_ends_at - now()).total_seconds() / 86400)),
    )


@bp.get("/events/<id:event_id>/photos.json")
@guardian_required
@watched(SignalKind.PAGE)
def event_photos(event_id: int) -> Response:
    """The next page of the grid, for infinite scrolling."""
    _guardian, family = family_member()
    event = _event(family, event_id)
    page = _page(event, count=False)
    filters = _filters()
    return jsonify(
        photos=[
            {
                "id": photo.id,
                "thumbnail": url_for("gallery.thumbnail", photo_id=photo.id),
                "view": url_for(
                    "gallery.show_photo", event_id=event.id, photo_id=photo.id, **filters
                ),
            }
            for photo in page.photos
        ],
        next_after=page.next_after,
    )


@bp.get("/events/<id:event_id>/photos/<id:photo_id>")
@guardian_required
@watched(SignalKind.PAGE)
def show_photo(event_id: int, photo_id: int) -> str:
    _guardian, family = family_member()
    event = _event(family, event_id)
    photo = _photo(family, photo_id)
    if photo.event_id != event.id:
        _refuse(f"photo:{photo_id}")
    filters = _filters()
    previous_id, next_id = neighbours(
        db_session(),
        event,
        photo,
        album_id=filters.get("album"),
        classroom_id=filters.get("class"),
    )
    return render_template(
        "gallery/photo.html",
        event=event,
        photo=photo,
        filters=filters,
        previous_url=url_for(
            "gallery.show_photo", event_id=event.id, photo_id=previous_id, **filters
        )
        if previous_id
        else None,
        next_url=url_for("gallery.show_photo", event_id=event.id, photo_id=next_id, **filters)
        if next_id
        else None,
        back_url=url_for("gallery.show_event", event_id=event.id, **filters),
        cart_endpoint=_cart_endpoint(),
    )


def _image(data: bytes) -> Response:
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = PRIVATE_IMAGE_CACHE
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/gallery/photos/<id:photo_id>/thumbnail.jpg")
@guardian_required
@limiter.limit("600/minute", key_func=rate_key)
def thumbnail(photo_id: int) -> Response:
    """A small copy for the grid; no mark (too small to hold one), never the master."""
    photo = _photo(family_member()[1], photo_id)
    return _image(read_derivative(blobs(), photo, THUMBNAIL))


@bp.get("/gallery/photos/<id:photo_id>/preview.jpg")
@guardian_required
@watched(SignalKind.PREVIEW)
@limiter.limit("120/minute", key_func=rate_key)
def preview(photo_id: int) -> Response:
    """The preview marked for this viewer: the school and the viewer's code across it, and
    the invisible mark of today's preview delivery in it."""
    guardian, family = family_member()
    photo = _photo(family, photo_id)
    signed_in = current_signed_in()
    session = db_session()
    delivery = preview_delivery(
        session,
        photo,
        Recipient(
            guardian=guardian,
            family_id=family.id,
            session_id=signed_in.record.id if signed_in is not None else None,
            device_hash=device_hash(),
            ip=client_ip(),
            user_agent=request.headers.get("User-Agent", ""),
        ),
        key_id=watermarks().current_id,
        now=now(),
    )
    session.commit()
    school = photo.event.school
    code = viewer_code(keys().codes, guardian.id)
    data = marked_preview(
        blobs(),
        watermarks(),
        photo,
        delivery,
        overlay=f"{school.name} · {code}",
        fallback=f"{school.slug} · {code}",
    )
    return _image(data)
