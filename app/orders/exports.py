"""CSV files for schools and the print lab: sales per event and the paid print lines.

Cells that a spreadsheet would run as a formula (a family may name itself ``=HYPERLINK(…)``)
are written as text; the file starts with a byte-order mark so spreadsheet programs read
the Japanese as UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.orders.services import paid_print_lines, school_sales
from app.photos.models import Event

Row = Sequence[object]


def _cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_text(rows: Sequence[Row]) -> str:
    """The rows as CSV text with a byte-order mark, formulas defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return "\ufeff" + buffer.getvalue()


def print_list_rows(session: Session, event: Event) -> list[Row]:
    """The lab's list: order, payment time, family, photo, file name in the ZIP, size, count."""
    zone = ZoneInfo(event.school.timezone)
    rows: list[Row] = [
        ["order", "paid_at", "family_reference", "family", "photo_id", "file", "size", "quantity"]
    ]
    for number, item in enumerate(paid_print_lines(session, event), start=1):
        paid = item.order.paid_at
        rows.append(
            [
                item.order.number,
                paid.astimezone(zone).strftime("%Y-%m-%d %H:%M") if paid else "",
                item.order.family.reference,
                item.order.family.display_name,
                item.photo_id,
                print_file_name(number, item.order.number, item.photo_id, item.product.value),
                item.product.value,
                item.quantity,
            ]
        )
    return rows


def print_file_name(number: int, order_number: str, photo_id: int, size: str) -> str:
    """Where a print line's marked file sits in the lab's ZIP."""
    return f"{order_number}/{number:03d}_{photo_id}_{size}.jpg"


def sales_rows(session: Session, school_id: int) -> list[Row]:
    rows: list[Row] = [
        [
            "event_id",
            "event",
            "event_date",
            "orders_paid",
            "orders_pending",
            "paid_yen",
            "refunded_yen",
        ]
    ]
    for figure in school_sales(session, school_id):
        rows.append(
            [
                figure.event.id,
                figure.event.title,
                figure.event.event_date.isoformat(),
                figure.orders_paid,
                figure.orders_pending,
                figure.paid_yen,
                figure.refunded_yen,
            ]
        )
    return rows
