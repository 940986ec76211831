"""``photogate investigate SUSPECT --json``: the same search from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.deliveries.models import Delivery
from app.investigate.cli import investigate
from tests.investigate.support import (
    UNRELATED,
    decode,
    download_delivery,
    event_gallery,
    jpeg,
    real_photo,
    resized,
)


def test_the_command_names_the_delivery_of_a_leaked_download_as_json(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    gallery = event_gallery(app, session)
    photo = gallery.photos[0]
    leaked = tmp_path / "leaked.jpg"
    leaked.write_bytes(
        jpeg(resized(decode(download_delivery(app, session, gallery, photo)), 1280), 75)
    )
    delivery = session.scalars(select(Delivery)).one()

    result = app.test_cli_runner().invoke(
        investigate, [str(leaked), "--school", str(gallery.school.id), "--json"]
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["verdict"] == "delivery"
    assert body["delivery"]["id"] == delivery.id
    assert body["delivery"]["guardian"]["email"] == gallery.guardian.email
    assert body["delivery"]["family"]["id"] == gallery.family.id
    assert body["photo"]["id"] == photo.id
    session.expire_all()
    assert "investigate.case_opened" in set(session.scalars(select(AuditEvent.action)))


def test_the_command_says_no_match_and_refuses_bad_input_clearly(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    gallery = event_gallery(app, session)
    unrelated = tmp_path / "unrelated.png"
    unrelated.write_bytes(real_photo(UNRELATED))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    runner = app.test_cli_runner()

    plain = runner.invoke(investigate, [str(unrelated), "--school", str(gallery.school.id)])
    refused = runner.invoke(investigate, [str(junk), "--json"])
    no_school = runner.invoke(investigate, [str(unrelated), "--school", "999999"])
    no_photo = runner.invoke(investigate, [str(unrelated), "--original", "999999"])

    assert plain.exit_code == 0, plain.output
    assert "no_match" in plain.output
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert refused.output.startswith("Error:")
    assert no_school.exit_code == 1
    assert "no school 999999" in no_school.output
    assert no_photo.exit_code == 1
    assert "no photo 999999" in no_photo.output


def test_the_original_option_reads_against_the_given_photo_first(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    gallery = event_gallery(app, session)
    photo = gallery.photos[2]
    download_delivery(app, session, gallery, photo)
    suspect = tmp_path / "unrelated.png"
    suspect.write_bytes(real_photo(UNRELATED))

    result = app.test_cli_runner().invoke(
        investigate, [str(suspect), "--original", str(photo.id), "--json"]
    )

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    # Read against the named photo, but nothing of it is in the suspect: no verdict for it.
    assert [read["photo_id"] for read in body["results"]["reads"]] == [photo.id]
    assert body["verdict"] == "no_match"
    assert body["photo"] is None
