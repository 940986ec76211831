"""Opening a case for a suspect image and searching for where it came from.

The search, in order (each step's findings are kept on the case):

1. **Blind read** under every kept watermark key. An authenticated payload is the mark of
   one delivery; if that delivery is of a photo in the investigator's scope, that is the
   verdict.
2. **Candidate source photos** in scope: whole-image perceptual hashes (pHash + dHash of
   every ready photo) and the crop-robust index of local features (see
   :mod:`app.investigate.features`), which also says *where* in the suspect the photo's
   region is.
3. **Informed read** of the suspect against each candidate's stored image, with that
   photo's deliveries as the known payloads. When the features put the photo in only a
   region of the suspect (a face pasted into another picture), only that region is read.
   Previews were marked on the preview, downloads on the master, so each is read against
   the image its deliveries were marked on.

No mark but a source photo: the verdict is the photo, and everyone who received a copy of
it. Neither: "no match", said plainly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import StaffUser
from app.auth.policies import Actor, actor_id, sees_every_school
from app.auth.sessions import end_all_sessions
from app.deliveries.models import Delivery, DeliveryKind
from app.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Unavailable
from app.i18n import gettext as _
from app.imaging import (
    PerceptualHash,
    RejectedImage,
    open_upload,
    perceptual_hash,
    probe,
    resize_long_side,
)
from app.investigate.features import (
    SUSPECT_FEATURES,
    Features,
    Index,
    RegionMatch,
    detect,
    find_regions,
    pasted_box,
    refine_placement,
)
from app.investigate.index_files import (
    cached_index,
    has_version,
    newest_version,
    version_name,
)
from app.investigate.models import CaseStatus, Investigation, Verdict
from app.investigate.policies import can_investigate, can_investigate_school, knows_case
from app.keys import WatermarkKeys
from app.photos.blobs import MASTER, PREVIEW, read_derivative
from app.photos.features import index_stored_photo
from app.photos.limits import UploadLimits
from app.photos.models import Event, Photo, PhotoFeatures, PhotoStatus
from app.photos.reasons import rejection_text
from app.schools.models import Classroom, Enrolment, Family, Student
from app.storage import EncryptedBlobs, StorageError

if TYPE_CHECKING:
    from app.watermark import Extraction

logger = logging.getLogger(__name__)

#: The blob kind of a case's suspect image (stored under the case's own name and key).
SUSPECT: Final = "suspect"
#: Combined pHash + dHash distance (of 128 bits) up to which a photo is a candidate: a
#: recompressed, resized or screenshotted copy of the whole photo stays far below it,
#: unrelated photos sit around 64.
MAX_HASH_DISTANCE: Final = 24
#: Candidates listed on the verdict page, and read against their stored image.
MAX_CANDIDATES: Final = 10
MAX_INFORMED_READS: Final = 3
#: A region covering less of the suspect than this is read on its own (cut out, padded).
REGION_FRACTION: Final = 0.6
REGION_PADDING: Final = 0.25
MIN_REGION_SIDE: Final = 384
#: A suspect is read at most this large: more pixels add time, not marks (the mark's cells
#: are 1/512 of a photo's long side).
MAX_READ_SIDE: Final = 4096
MAX_NOTES: Final = 10_000
#: Smaller images cannot hold a mark or say which photo they come from.
MIN_SUSPECT_SIDE: Final = 64


@dataclass
class Candidate:
    """A photo the suspect may come from, with what found it."""

    photo_id: int
    hash_distance: int | None = None
    region: RegionMatch | None = None

    @property
    def sort_key(self) -> tuple[int, int]:
        inliers = self.region.inliers if self.region is not None else 0
        distance = self.hash_distance if self.hash_distance is not None else 128
        return (-inliers, distance)

    @property
    def found(self) -> bool:
        """Whether an index found it (rather than the investigator naming it)."""
        return self.hash_distance is not None or self.region is not None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"photo_id": self.photo_id, "hash_distance": self.hash_distance}
        if self.region is not None:
            body["inliers"] = self.region.inliers
            body["suspect_box"] = list(self.region.suspect_box)
            body["photo_box"] = list(self.region.photo_box)
            body["scale"] = round(self.region.scale, 3)
            body["angle"] = round(self.region.angle, 2)
        return body


@dataclass
class Search:
    """What the search found, step by step (kept as the case's results)."""

    blind: dict[str, Any] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    indexed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "blind": self.blind,
            "candidates": [c.as_json() for c in self.candidates],
            "reads": self.reads,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "newly_indexed": self.indexed,
            "decode_attempts": self.attempts,
        }

    @property
    def attempts(self) -> int:
        """Authenticated-decode attempts of every read: what false attribution counts."""
        blind = int(self.blind.get("attempts", 0))
        return blind + sum(int(read.get("attempts", 0)) for read in self.reads)


# --- cases ------------------------------------------------------------------------------


def open_case(
    session: Session,
    blobs: EncryptedBlobs,
    actor: Actor,
    *,
    data: bytes,
    school_id: int | None,
    limits: UploadLimits,
    now: dt.datetime,
) -> tuple[Investigation, Image.Image]:
    """Validate a suspect image like any upload, store it encrypted, open a case (flushed).

    Returns the case and the decoded suspect (upright RGB, no metadata).
    """
    if not can_investigate_school(actor, school_id):
        raise Forbidden()
    try:
        header = probe(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
        image = open_upload(data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels)
    except RejectedImage as rejected:
        raise Invalid(rejection_text(rejected)) from None
    if min(image.size) < MIN_SUSPECT_SIDE:
        raise Invalid(
            _(
                "The image is too small to investigate: it needs at least %(side)s pixels "
                "on each side.",
                side=MIN_SUSPECT_SIDE,
            )
        )
    sha256 = hashlib.sha256(data).hexdigest()
    fingerprint = perceptual_hash(image)
    key = blobs.new_data_key()
    case = Investigation(
        school_id=school_id,
        investigator_id=actor_id(actor),
        status=CaseStatus.OPEN,
        suspect_sha256=sha256,
        suspect_bytes=len(data),
        suspect_format=header.format[:16],
        suspect_width=image.width,
        suspect_height=image.height,
        wrapped_key=key.wrapped,
        suspect_phash=fingerprint.phash,
        suspect_dhash=fingerprint.dhash,
        results={},
        notes="",
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
            blobs.put(case.blob_id, SUSPECT, data, key)
    except (StorageError, OSError) as exc:
        logger.error("storing a suspect image failed: %s", exc)
        raise Unavailable(_("The image could not be stored just now. Please try again.")) from None
    logger.info("investigation %s opened (suspect %s)", case.id, sha256[:16])
    return case, image


def suspect_bytes(blobs: EncryptedBlobs, case: Investigation) -> bytes:
    """The suspect image exactly as uploaded (decrypted)."""
    return blobs.get(case.blob_id, SUSPECT, case.wrapped_key)


def suspect_image(blobs: EncryptedBlobs, case: Investigation) -> Image.Image:
    """The stored suspect, decoded again (upright RGB)."""
    return open_upload(suspect_bytes(blobs, case), max_bytes=case.suspect_bytes + 1)


def case_for(session: Session, actor: Actor, case_id: int) -> Investigation:
    """The case, or NotFound for anyone who must not know it exists."""
    case = session.get(Investigation, case_id)
    if case is None or not knows_case(actor, case):
        raise NotFound()
    return case


def cases_of(session: Session, actor: Actor, *, limit: int = 100) -> list[Investigation]:
    """The cases ``actor`` may see, newest first."""
    if not can_investigate(actor):
        return []
    query = select(Investigation).order_by(Investigation.id.desc()).limit(limit)
    if isinstance(actor, StaffUser) and not sees_every_school(actor):
        query = query.where(Investigation.school_id == actor.school_id)
    return [case for case in session.scalars(query) if knows_case(actor, case)]


def set_notes(session: Session, actor: Actor, case: Investigation, notes: str) -> None:
    """Replace the case's notes (flushed)."""
    if not knows_case(actor, case):
        raise NotFound()
    if len(notes) > MAX_NOTES:
        raise Invalid(_("Notes can be at most %(count)s characters.", count=MAX_NOTES))
    case.notes = notes
    session.flush()


def set_status(
    session: Session, actor: Actor, case: Investigation, status: CaseStatus, *, now: dt.datetime
) -> bool:
    """Close or reopen a case; False if it already had that status."""
    if not knows_case(actor, case):
        raise NotFound()
    if case.status is status:
        return False
    case.status = status
    case.closed_at = now if status is CaseStatus.CLOSED else None
    session.flush()
    return True


def revoke_named_sessions(
    session: Session, actor: Actor, case: Investigation, *, now: dt.datetime
) -> tuple[int, int]:
    """Sign out everywhere the guardian whose delivery the case names (flushed).

    Returns the guardian's id and how many sessions ended. The guardian can sign in again
    with their own provider; it stops whoever holds their sessions now.
    """
    if not knows_case(actor, case):
        raise NotFound()
    delivery = case.delivery
    if case.verdict is not Verdict.DELIVERY or delivery is None or delivery.guardian is None:
        raise Conflict(_("This case names no guardian's delivery."))
    ended = end_all_sessions(session, delivery.guardian, now=now, reason="revoked_by_school")
    return delivery.guardian.id, ended


# --- the scope and the index --------------------------------------------------------------


def _scoped(school_id: int | None, query: Any) -> Any:
    """``query`` (over photos) narrowed to the ready photos of one school (None: all)."""
    query = query.join(Event, Event.id == Photo.event_id).where(Photo.status == PhotoStatus.READY)
    if school_id is not None:
        query = query.where(Event.school_id == school_id)
    return query


def _scope(case: Investigation, query: Any) -> Any:
    """``query`` (over photos) narrowed to the ready photos of the case's scope."""
    return _scoped(case.school_id, query)


def _in_scope(case: Investigation, photo: Photo) -> bool:
    return case.school_id is None or photo.event.school_id == case.school_id


def index_missing(
    session: Session, blobs: EncryptedBlobs, case: Investigation, *, now: dt.datetime
) -> int:
    """Index the case's photos that have no feature row yet (flushed); returns how many.

    The processing job makes every photo's row; only photos processed before it did (or
    whose row could not be made then) are indexed here, from their stored preview and
    master. Rows of an older scheme are remade by ``photogate studio reindex``.
    """
    missing = session.scalars(
        _scope(
            case,
            select(Photo)
            .outerjoin(PhotoFeatures, PhotoFeatures.photo_id == Photo.id)
            .where(PhotoFeatures.photo_id.is_(None)),
        )
    )
    made = 0
    for photo in missing:
        try:
            session.add(index_stored_photo(blobs, photo, now=now))
        except Exception:
            # A damaged or purged preview leaves the photo out of the index, not the search.
            logger.exception("photo %s could not be indexed", photo.id)
            continue
        made += 1
    session.flush()
    return made


#: Built indexes kept in this process, by scope: building the vote table of 10,000 photos
#: takes seconds, so it is made once and reused until a photo is added or re-indexed.
_INDEXES: dict[Any, tuple[Any, Index]] = {}
_KEEP_INDEXES: Final = 2
_INDEX_LOCK = threading.Lock()


def scope_name(school_id: int | None) -> str:
    """How a search scope is named on disk: ``school-12``, or ``all`` for every school."""
    return f"school-{school_id}" if school_id is not None else "all"


def _index_stamp(session: Session, school_id: int | None) -> tuple[Any, ...]:
    """What changes whenever a photo of the scope is indexed, re-indexed or leaves it."""
    version = session.execute(
        _scoped(
            school_id,
            select(
                func.count(PhotoFeatures.photo_id),
                func.max(PhotoFeatures.made_at),
                func.max(PhotoFeatures.photo_id),
                func.sum(PhotoFeatures.photo_id),
            ).join(Photo, Photo.id == PhotoFeatures.photo_id),
        )
    ).one()
    return tuple(version)


def _build_index(
    session: Session, school_id: int | None, *, made_after: dt.datetime | None = None
) -> Index:
    query = select(
        PhotoFeatures.photo_id,
        PhotoFeatures.points,
        PhotoFeatures.descriptors,
        PhotoFeatures.width,
        PhotoFeatures.height,
    ).join(Photo, Photo.id == PhotoFeatures.photo_id)
    if made_after is not None:
        query = query.where(PhotoFeatures.made_at > made_after)
    rows = session.execute(_scoped(school_id, query))
    return Index.build(
        [
            (photo_id, Features.from_bytes(points, descriptors, width, height))
            for photo_id, points, descriptors, width, height in rows
        ]
    )


def search_indexes(
    session: Session, case: Investigation, *, index_dir: Path | None = None
) -> list[Index]:
    """What a search matches against: the scope's index at its current version; or, while
    housekeeping has not built that version yet, the newest one on disk and, beside it, a
    small index of the rows made since (new and re-indexed photos), so that a search
    never waits for a build it does not need."""
    school_id = case.school_id
    stamp = _index_stamp(session, school_id)
    if index_dir is not None and not has_version(index_dir, scope_name(school_id), stamp):
        older = newest_version(index_dir, scope_name(school_id))
        if older is not None and older[1]:
            index, newest_row = older
            since = dt.datetime.fromisoformat(newest_row)
            return [index, _build_index(session, school_id, made_after=since)]
    return [_scope_index(session, school_id, index_dir=index_dir, stamp=stamp)]


def _newest_row(session: Session, school_id: int | None) -> str:
    newest = session.scalar(
        _scoped(
            school_id,
            select(func.max(PhotoFeatures.made_at)).join(Photo, Photo.id == PhotoFeatures.photo_id),
        )
    )
    return newest.isoformat() if newest is not None else ""


def _scope_index(
    session: Session,
    school_id: int | None,
    *,
    index_dir: Path | None,
    stamp: tuple[Any, ...] | None = None,
) -> Index:
    """The scope's index at ``stamp`` (its current version, asked for when not given):
    kept in the process, and with ``index_dir`` mapped from (or built into) its files."""
    stamp = stamp if stamp is not None else _index_stamp(session, school_id)
    key = (str(session.get_bind().engine.url), school_id, str(index_dir))
    with _INDEX_LOCK:
        held = _INDEXES.get(key)
        if held is not None and held[0] == stamp:
            return held[1]
    if index_dir is None:
        index = _build_index(session, school_id)
    else:
        index = cached_index(
            index_dir,
            scope_name(school_id),
            stamp,
            lambda: _build_index(session, school_id),
            newest_row=lambda: _newest_row(session, school_id),
        )
    with _INDEX_LOCK:
        while len(_INDEXES) >= _KEEP_INDEXES:
            _INDEXES.pop(next(iter(_INDEXES)))
        _INDEXES[key] = (stamp, index)
    return index


def refresh_index_files(session: Session, index_dir: Path) -> list[str]:
    """Bring every school's index files up to date (and every-school's, once it exists),
    so that a search finds them ready; returns the scopes that were built."""
    built: list[str] = []
    school_ids = session.scalars(
        select(Event.school_id)
        .join(Photo, Photo.event_id == Event.id)
        .join(PhotoFeatures, PhotoFeatures.photo_id == Photo.id)
        .where(Photo.status == PhotoStatus.READY)
        .distinct()
    ).all()
    scopes: list[int | None] = [*sorted(school_ids)]
    if index_dir.is_dir() and any(p.name.startswith("all-") for p in index_dir.iterdir()):
        scopes.append(None)
    for school_id in scopes:
        stamp = _index_stamp(session, school_id)
        name = version_name(scope_name(school_id), stamp)
        if not (index_dir / name).is_dir():
            _scope_index(session, school_id, index_dir=index_dir, stamp=stamp)
            built.append(scope_name(school_id))
    return built


# --- the search ---------------------------------------------------------------------------


def _in_scope_now(
    session: Session, case: Investigation, regions: list[RegionMatch]
) -> list[RegionMatch]:
    """The matches of photos still ready in the case's scope (an index on disk may be a
    version older than a withdrawal), the best of each photo, most inliers first."""
    if not regions:
        return []
    ready = set(
        session.scalars(
            _scope(case, select(Photo.id)).where(Photo.id.in_({r.photo_id for r in regions}))
        )
    )
    best: dict[int, RegionMatch] = {}
    for region in regions:
        held = best.get(region.photo_id)
        if region.photo_id in ready and (held is None or region.inliers > held.inliers):
            best[region.photo_id] = region
    return sorted(best.values(), key=lambda region: -region.inliers)


def _delivery_by_mark(session: Session, mark: int) -> Delivery | None:
    return session.scalar(select(Delivery).where(Delivery.mark == mark))


def _hash_candidates(
    session: Session, case: Investigation, suspect: PerceptualHash
) -> list[Candidate]:
    rows = session.execute(
        _scope(
            case,
            select(Photo.id, Photo.phash, Photo.dhash).where(
                Photo.phash.is_not(None), Photo.dhash.is_not(None)
            ),
        )
    )
    wanted_p, wanted_d = int(suspect.phash, 16), int(suspect.dhash, 16)
    found = []
    for photo_id, phash, dhash in rows:
        distance = (int(phash, 16) ^ wanted_p).bit_count() + (int(dhash, 16) ^ wanted_d).bit_count()
        if distance <= MAX_HASH_DISTANCE:
            found.append(Candidate(photo_id, hash_distance=distance))
    return found


def _merge(hashed: list[Candidate], regions: list[RegionMatch]) -> list[Candidate]:
    by_id = {c.photo_id: c for c in hashed}
    for region in regions:
        by_id.setdefault(region.photo_id, Candidate(region.photo_id)).region = region
    return sorted(by_id.values(), key=lambda c: c.sort_key)[:MAX_CANDIDATES]


def _scaled(region: RegionMatch, scale: float) -> RegionMatch:
    """The match for the suspect resized by ``scale`` (points in it are ``scale`` times)."""
    a, b, c, d, e, f = region.matrix
    left, top, right, bottom = region.suspect_box
    return replace(
        region,
        matrix=(a / scale, b / scale, c, d / scale, e / scale, f),
        suspect_box=(
            round(left * scale),
            round(top * scale),
            round(right * scale),
            round(bottom * scale),
        ),
        points=tuple((x * scale, y * scale) for x, y in region.points),
    )


def _preview_of(blobs: EncryptedBlobs, photo: Photo) -> Image.Image | None:
    try:
        return _stored_image(blobs, photo, PREVIEW)
    except (ValueError, StorageError, AppError):
        return None


def _master_of(blobs: EncryptedBlobs, photo: Photo) -> Image.Image | None:
    try:
        return _stored_image(blobs, photo, MASTER)
    except (ValueError, StorageError, AppError):
        return None


@dataclass(frozen=True)
class _Part:
    """The part of the suspect that shows the photo, and exactly where it lies on each
    stored image (3 x 3 maps from the part's pixels to the preview's and the master's)."""

    box: tuple[int, int, int, int]
    placements: dict[str, npt.NDArray[np.float64]]


def _affine(matrix: tuple[float, ...]) -> npt.NDArray[np.float64]:
    return np.vstack([np.array(matrix, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def _matrix(affine: npt.NDArray[np.float64]) -> tuple[float, float, float, float, float, float]:
    a, b, c, d, e, f = (float(v) for v in affine[:2].ravel())
    return a, b, c, d, e, f


def _covers_part(image: Image.Image, region: RegionMatch | None, scale: float) -> bool:
    """Whether the matched points cover only a part of ``image``."""
    if region is None:
        return False
    left, top, right, bottom = (v * scale for v in region.suspect_box)
    return (right - left) * (bottom - top) < REGION_FRACTION * image.width * image.height


def _pasted_part(
    image: Image.Image,
    region: RegionMatch | None,
    scale: float,
    preview: Image.Image | None,
    master: Image.Image | None,
) -> _Part | None:
    """The part of ``image`` that shows the photo, when it holds only a part of it (a face
    pasted into another picture), placed to a pixel or two on the preview and the master.

    The index places the region to a few preview pixels; a closer look against the stored
    image finer than the suspect's part (the master when the part shows the photo in more
    detail than the preview has, as a face cut from a 12 MP photo does) places it exactly,
    and the photo's own detail, laid onto the suspect, says where the part ends. The mark is
    then read from that part alone, at that placement: the reader's own registration cannot
    find a few hundred pixels in a 12 MP photo. None: no such part stands out.
    """
    if region is None or preview is None or master is None:
        return None
    if not _covers_part(image, region, scale):
        return None
    scaled = _scaled(region, scale)
    to_preview = _affine(scaled.matrix)
    preview_to_master = np.diag([master.width / preview.width, master.height / preview.height, 1.0])
    # Suspect pixels per preview pixel above one: the preview is coarser than the part.
    finer = scaled.scale < 1.0
    photo = master if finer else preview
    to_photo = preview_to_master @ to_preview if finer else to_preview
    exact = refine_placement(image, photo, _matrix(to_photo), scaled.points)
    box = pasted_box(image, photo, exact, scaled.points)
    if box is None:
        return None
    width, height = box[2] - box[0], box[3] - box[1]
    if width * height >= REGION_FRACTION * image.width * image.height:
        return None
    if min(width, height) < MIN_SUSPECT_SIDE * 2:
        return None
    shift = np.array([[1.0, 0.0, box[0]], [0.0, 1.0, box[1]], [0.0, 0.0, 1.0]])
    on_photo = _affine(exact) @ shift
    if finer:
        on_master, on_preview = on_photo, np.linalg.inv(preview_to_master) @ on_photo
    else:
        on_master, on_preview = preview_to_master @ on_photo, on_photo
    return _Part(box, {MASTER: on_master, PREVIEW: on_preview})


def _region_of(
    image: Image.Image, region: RegionMatch | None, scale: float
) -> tuple[int, int, int, int] | None:
    """The box of the suspect to read alone when the index put the photo in only a region
    of it but no pasted part stood out; None: all of it.

    ``scale`` takes the region's box (in the uploaded image's pixels) to ``image``.
    """
    if region is None:
        return None
    left, top, right, bottom = (round(v * scale) for v in region.suspect_box)
    width, height = right - left, bottom - top
    if width * height >= REGION_FRACTION * image.width * image.height:
        return None
    # Matched points cluster on the region's corners and edges; the pasted part reaches
    # beyond them. A window around them, at least a few tiles of the mark wide, holds it.
    side_x = max(round(width * (1 + 2 * REGION_PADDING)), MIN_REGION_SIDE)
    side_y = max(round(height * (1 + 2 * REGION_PADDING)), MIN_REGION_SIDE)
    centre_x, centre_y = (left + right) // 2, (top + bottom) // 2
    box = (
        max(0, centre_x - side_x // 2),
        max(0, centre_y - side_y // 2),
        min(image.width, centre_x + side_x // 2),
        min(image.height, centre_y + side_y // 2),
    )
    if (box[2] - box[0]) * (box[3] - box[1]) >= REGION_FRACTION * image.width * image.height:
        return None
    return box


def _stored_image(blobs: EncryptedBlobs, photo: Photo, kind: str) -> Image.Image:
    with Image.open(io.BytesIO(read_derivative(blobs, photo, kind))) as opened:
        return opened.convert("RGB")


def _informed_reads(
    session: Session,
    blobs: EncryptedBlobs,
    watermarks: WatermarkKeys,
    *,
    case: Investigation,
    image: Image.Image,
    candidate: Candidate,
    search: Search,
) -> Delivery | None:
    """Read the suspect against the candidate's preview and master; the delivery named."""
    photo = session.get(Photo, candidate.photo_id)
    if photo is None or not _in_scope(case, photo):
        return None
    deliveries = list(session.scalars(select(Delivery).where(Delivery.photo_id == photo.id)))
    marks_by_base = {
        PREVIEW: [d.mark for d in deliveries if d.kind is DeliveryKind.PREVIEW],
        MASTER: [d.mark for d in deliveries if d.kind is not DeliveryKind.PREVIEW],
    }
    scale = image.width / case.suspect_width
    stored: dict[str, Image.Image | None] = {PREVIEW: _preview_of(blobs, photo)}
    part = None
    if _covers_part(image, candidate.region, scale):
        stored[MASTER] = _master_of(blobs, photo)
        part = _pasted_part(image, candidate.region, scale, stored[PREVIEW], stored[MASTER])
    box = part.box if part is not None else _region_of(image, candidate.region, scale)
    piece = image.crop(box) if box is not None else image
    for base, marks in marks_by_base.items():
        if not marks:
            continue
        started = time.perf_counter()
        try:
            original = stored.get(base) or _stored_image(blobs, photo, base)
            placement = part.placements[base] if part is not None else None
            found = watermarks.keyring.extract(
                piece, original=original, candidates=marks, placement=placement
            )
        except (ValueError, StorageError, AppError) as exc:
            # A damaged or purged copy of one candidate must not end the whole search.
            logger.warning("informed read of photo %s (%s) failed: %s", photo.id, base, exc)
            continue
        search.reads.append(
            {
                "photo_id": photo.id,
                "against": base,
                # In the uploaded image's pixels, for the outline on the verdict page.
                "region": [round(v / scale) for v in box] if box is not None else None,
                "payload_found": found.payload is not None,
                "confidence": round(found.confidence, 3),
                "pilot_score": round(found.pilot_score, 2),
                "attempts": found.attempts,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        if found.payload is None:
            continue
        delivery = _delivery_by_mark(session, found.payload)
        if delivery is not None and delivery.photo_id == photo.id:
            case.method = "informed"
            case.confidence = found.confidence
            case.key_id = found.key_version
            return delivery
    return None


def _for_reading(image: Image.Image) -> Image.Image:
    return resize_long_side(image, MAX_READ_SIDE) if max(image.size) > MAX_READ_SIDE else image


def _blind_read(
    session: Session,
    watermarks: WatermarkKeys,
    case: Investigation,
    suspect: Image.Image,
    search: Search,
) -> Delivery | None:
    """The delivery named by a mark read with the keys alone, if it is in the case's scope."""
    try:
        found: Extraction | None = watermarks.keyring.extract(suspect)
    except ValueError as exc:  # an image the reader cannot use is a read that found nothing
        logger.warning("blind read of investigation %s failed: %s", case.id, exc)
        found = None
    search.blind = {
        "payload_found": found is not None and found.payload is not None,
        "pilot_score": round(found.pilot_score, 2) if found else 0.0,
        "attempts": found.attempts if found else 0,
    }
    if found is None or found.payload is None:
        return None
    delivery = _delivery_by_mark(session, found.payload)
    if delivery is None:
        return None
    if not _in_scope(case, delivery.photo):
        # Another school's delivery: nothing of it is shown to this investigator.
        logger.info("investigation %s read a mark outside its scope", case.id)
        return None
    search.blind["in_scope"] = True
    case.method, case.confidence, case.key_id = "blind", found.confidence, found.key_version
    return delivery


def _record_verdict(case: Investigation, delivery: Delivery | None, search: Search) -> Verdict:
    if delivery is not None:
        case.delivery_id = delivery.id
        case.photo_id = delivery.photo_id
        case.verdict = Verdict.DELIVERY
    elif found := [c for c in search.candidates if c.found]:
        # A photo named with --original but not found by either index is no verdict.
        case.photo_id = found[0].photo_id
        case.method = "features" if found[0].region is not None else "phash"
        case.verdict = Verdict.PHOTO
    else:
        case.verdict = Verdict.NO_MATCH
    return case.verdict


def search_case(
    session: Session,
    blobs: EncryptedBlobs,
    watermarks: WatermarkKeys,
    actor: Actor,
    case: Investigation,
    *,
    image: Image.Image,
    now: dt.datetime,
    original: Photo | None = None,
    clock: Any = time.perf_counter,
    progress: Callable[[str], None] | None = None,
    index_dir: Path | None = None,
) -> Search:
    """Run the whole search for the case's suspect and record the verdict (flushed).

    ``original``, when the investigator already knows the source photo, is read against
    first, whatever the candidate search says. ``progress`` is told each step's name
    (:data:`app.investigate.progress.STEPS`) as it begins.
    """
    tell = progress or (lambda _step: None)
    if not knows_case(actor, case):
        raise NotFound()
    search = Search()
    started = clock()
    case.verdict, case.delivery_id, case.photo_id = None, None, None
    case.method, case.confidence, case.key_id = None, None, None
    suspect = _for_reading(image)

    # 1. Blind read under every kept key.
    tell("blind")
    delivery = _blind_read(session, watermarks, case, suspect, search)
    search.timings["blind"] = clock() - started

    # 2. Candidate source photos (also when the mark was read: the report shows the photo).
    step = clock()
    tell("index")
    search.indexed = index_missing(session, blobs, case, now=now)
    search.timings["index"] = clock() - step
    step = clock()
    tell("candidates")
    fingerprint = PerceptualHash(case.suspect_phash or "0" * 16, case.suspect_dhash or "0" * 16)
    hashed = _hash_candidates(session, case, fingerprint)
    regions: list[RegionMatch] = []
    if delivery is None or not hashed:
        suspect_features = detect(image, features=SUSPECT_FEATURES)
        regions = _in_scope_now(
            session,
            case,
            [
                region
                for index in search_indexes(session, case, index_dir=index_dir)
                for region in find_regions(suspect_features, index)
            ],
        )
    search.candidates = _merge(hashed, regions)
    if original is not None:
        if not _in_scope(case, original) or original.status is not PhotoStatus.READY:
            raise NotFound()
        given = next((c for c in search.candidates if c.photo_id == original.id), None)
        search.candidates = [given or Candidate(original.id)] + [
            c for c in search.candidates if c.photo_id != original.id
        ]
    search.timings["candidates"] = clock() - step

    # 3. Informed reads against the best candidates.
    step = clock()
    tell("informed")
    if delivery is None:
        for candidate in search.candidates[:MAX_INFORMED_READS]:
            delivery = _informed_reads(
                session,
                blobs,
                watermarks,
                case=case,
                image=suspect,
                candidate=candidate,
                search=search,
            )
            if delivery is not None:
                break
    search.timings["informed"] = clock() - step

    verdict = _record_verdict(case, delivery, search)
    search.timings["total"] = clock() - started
    case.results = search.as_json()
    case.searched_at = now
    session.flush()
    logger.info("investigation %s: %s in %.1f s", case.id, verdict.value, search.timings["total"])
    tell("done")
    return search


# --- what the verdict page shows ---------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    """One delivery of a photo, as the verdict lists it."""

    delivery: Delivery
    family: Family | None
    classes: list[Classroom]


def _classes_of(session: Session, family_id: int | None) -> list[Classroom]:
    if family_id is None:
        return []
    return list(
        session.scalars(
            select(Classroom)
            .join(Enrolment, Enrolment.classroom_id == Classroom.id)
            .join(Student, Student.id == Enrolment.student_id)
            .where(Student.family_id == family_id)
            .distinct()
            .order_by(Classroom.school_year, Classroom.grade, Classroom.name)
        )
    )


def receiver(session: Session, delivery: Delivery) -> Receiver:
    """The delivery with the recipient's family and their children's classes."""
    family = session.get(Family, delivery.family_id) if delivery.family_id is not None else None
    return Receiver(delivery, family, _classes_of(session, delivery.family_id))


def receivers(session: Session, photo_id: int) -> list[Receiver]:
    """Everyone who received a copy of the photo (every delivery), oldest first."""
    deliveries = session.scalars(
        select(Delivery).where(Delivery.photo_id == photo_id).order_by(Delivery.created_at)
    )
    return [receiver(session, delivery) for delivery in deliveries]


def verdict_json(session: Session, case: Investigation) -> dict[str, Any]:
    """The case and its verdict as plain data (the command line's --json, the report)."""
    body: dict[str, Any] = {
        "case": case.id,
        "school_id": case.school_id,
        "suspect": {
            "sha256": case.suspect_sha256,
            "format": case.suspect_format,
            "width": case.suspect_width,
            "height": case.suspect_height,
            "bytes": case.suspect_bytes,
            "phash": case.suspect_phash,
            "dhash": case.suspect_dhash,
        },
        "verdict": case.verdict.value if case.verdict else None,
        "method": case.method,
        "confidence": case.confidence,
        "key_id": case.key_id,
        "photo": None,
        "delivery": None,
        "receivers": [],
        "results": case.results,
        "searched_at": case.searched_at.isoformat() if case.searched_at else None,
    }
    if case.photo is not None:
        body["photo"] = {
            "id": case.photo.id,
            "event_id": case.photo.event_id,
            "master_sha256": case.photo.master_sha256,
        }
        body["receivers"] = [_delivery_json(item) for item in receivers(session, case.photo.id)]
    if case.delivery is not None:
        body["delivery"] = _delivery_json(receiver(session, case.delivery))
    return body


def _delivery_json(item: Receiver) -> dict[str, Any]:
    delivery = item.delivery
    guardian = delivery.guardian
    return {
        "id": delivery.id,
        "mark": f"{delivery.mark:08x}",
        "kind": delivery.kind.value,
        "created_at": delivery.created_at.isoformat(),
        "guardian": (
            {"id": guardian.id, "name": guardian.display_name, "email": guardian.email}
            if guardian is not None
            else None
        ),
        "staff_user_id": delivery.staff_user_id,
        "family": (
            {
                "id": item.family.id,
                "name": item.family.display_name,
                "reference": item.family.reference,
            }
            if item.family is not None
            else None
        ),
        "classes": [f"{c.school_year} {c.grade} {c.name}" for c in item.classes],
        "ip": delivery.ip,
        "browser": delivery.browser,
        "os": delivery.os,
        "device_hash": delivery.device_hash,
        "session_id": delivery.session_id,
        "key_id": delivery.key_id,
        "sha256": delivery.sha256,
    }
