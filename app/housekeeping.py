"""Time-driven chores: orders not paid in time expire, yesterday's marked previews and
ZIPs fetched or left past their hour go, the audit chain's head is anchored outside the
database, each school's daily digest of the guard's alerts is queued (once a UTC day), the
leak investigation's feature indexes are brought up to date on disk, and the outbox is
sent.

They run in the worker between jobs (with the reaper), when ``photogate serve`` starts and
then every few minutes in the embedded default, and from ``photogate tidy`` (for a cron job
where neither runs). Each chore is idempotent, so running it twice or late is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from app.audit.anchors import write_anchor
from app.deliveries.services import forget_marked_previews
from app.downloads.bundles import forget_expired_bundles
from app.guard.notify import send_digests
from app.investigate.services import refresh_index_files
from app.mail.services import deliver_pending
from app.orders.services import expire_unpaid
from app.photos.blobs import sweep_abandoned_writes
from app.runtime import Runtime

logger = logging.getLogger(__name__)

#: Marked previews are kept for the day they were made (one delivery per guardian, photo
#: and day); the days before today that a run looks back over, to catch up after downtime.
PREVIEW_DAYS_BACK = 7
#: The sweep of abandoned blob writes walks the whole blob tree: once an hour is enough,
#: since it removes only files untouched for an hour.
SWEEP_EVERY = 3600.0
_last_sweep: dict[str, float] = {}


@dataclass
class TidyReport:
    expired_orders: int = 0
    preview_deliveries_cleared: int = 0
    bundles_cleared: int = 0
    anchored_event: int | None = None
    temporary_files_removed: int = 0
    digests_queued: int = 0
    mail_sent: int = 0
    indexes_built: list[str] = field(default_factory=list)


def tidy(runtime: Runtime) -> TidyReport:
    """Run every chore once; one failing does not stop the others."""
    report = TidyReport()
    now = runtime.now()
    try:
        with runtime.database.session_scope() as session:
            report.expired_orders = expire_unpaid(session, now)
    except Exception:
        logger.exception("housekeeping: expiring unpaid orders failed")
    today = now.date()
    for back in range(1, PREVIEW_DAYS_BACK + 1):
        try:
            with runtime.database.session_scope() as session:
                report.preview_deliveries_cleared += forget_marked_previews(
                    session, runtime.blobs, day=today - dt.timedelta(days=back)
                )
        except Exception:
            logger.exception("housekeeping: clearing marked previews failed")
    try:
        with runtime.database.session_scope() as session:
            report.bundles_cleared = forget_expired_bundles(session, runtime.blobs, now=now)
    except Exception:
        logger.exception("housekeeping: clearing fetched and expired ZIPs failed")
    try:
        root = str(runtime.settings.blob_dir)
        moment = time.monotonic()
        if moment - _last_sweep.get(root, -SWEEP_EVERY) >= SWEEP_EVERY:
            _last_sweep[root] = moment
            report.temporary_files_removed = sweep_abandoned_writes(runtime.blobs)
    except Exception:
        logger.exception("housekeeping: sweeping abandoned blob writes failed")
    try:
        with runtime.database.session_scope(write=False) as session:
            anchor = write_anchor(
                session, runtime.settings.audit_anchors, key=runtime.keys.audit, now=now
            )
        report.anchored_event = anchor.event_id if anchor is not None else None
    except Exception:
        logger.exception("housekeeping: anchoring the audit chain failed")
    try:
        with runtime.database.session_scope() as session:
            report.digests_queued = send_digests(session, now=now)
    except Exception:
        logger.exception("housekeeping: the schools' daily digests failed")
    try:
        with runtime.database.session_scope(write=False) as session:
            report.indexes_built = refresh_index_files(session, runtime.settings.index_dir)
    except Exception:
        logger.exception("housekeeping: refreshing the investigation's feature indexes failed")
    try:
        report.mail_sent = deliver_pending(runtime)
    except Exception:
        logger.exception("housekeeping: sending the outbox failed")
    if report.expired_orders:
        logger.info("housekeeping: %d unpaid orders expired", report.expired_orders)
    return report
