"""The guard watches download asks: asking far more often than the purchases allow is
answered 429 and raises an alert the school sees, while a family's ordinary downloads
never meet it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.guard.models import GuardAlert
from tests.downloads.conftest import Paid
from tests.orders.conftest import Signer, csrf


def test_download_asks_beyond_twice_the_purchases_are_throttled_and_alerted(
    paid: Paid, login_as: Signer, session: Session
) -> None:
    client = login_as(paid.gallery.guardian)
    token = csrf(client, "/orders/downloads")
    # Three photos bought with three downloads each: 9, so the floor of 20 asks applies.
    statuses = [
        client.post(
            f"/downloads/entitlements/{paid.entitlements[n % 3].id}",
            data={"csrf_token": token},
        ).status_code
        for n in range(22)
    ]
    assert statuses[:20] == [303] * 20  # links made, none used: nothing is spent
    assert statuses[20:] == [429, 429]
    session.expire_all()
    (alert,) = session.scalars(
        select(GuardAlert).where(GuardAlert.entity == f"account:{paid.gallery.guardian.id}")
    ).all()
    rules = [f["rule"] for f in alert.findings if f["points"]]
    assert rules == ["downloads_beyond_purchases"]
    evidence = next(f for f in alert.findings if f["rule"] == "downloads_beyond_purchases")
    assert evidence["evidence"]["purchased"] == 9
