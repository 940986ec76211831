"""``photogate studio …``: assignments, tokens, retries, retention, and the upload tool
against a live server over real HTTP."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import create_app
from app.audit.models import AuditEvent
from app.auth.models import StaffRole
from app.cli import cli
from app.config import Settings
from app.db import make_engine, utcnow
from app.jobs import JobQueue
from app.photos.models import Event, Photo, PhotoStatus
from app.studio.models import ApiToken, PhotoDeletion
from app.studio.services import authenticate_api_token, create_api_token
from app.web.context import runtime
from app.web.registry import register_commands
from tests.conftest import LiveServer, create_scratch_database
from tests.factories import make_event, make_staff
from tests.studio.support import blob_files, photo_bytes


@pytest.fixture(autouse=True)
def _studio_commands() -> None:
    """The console script adds the feature groups at start; tests invoke ``cli`` directly."""
    register_commands(cli)


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a command run against a migrated scratch database."""
    scratch = create_scratch_database(tmp_path, "cli")
    yield {
        "PHOTOGATE_ENV": "test",
        "PHOTOGATE_VAR_DIR": str(tmp_path / "var"),
        "PHOTOGATE_DATABASE_URL": scratch.url,
        "PHOTOGATE_REDIS_URL": "",
    }
    scratch.drop()


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["studio", *args], env=env)


def _session(env: dict[str, str]) -> Session:
    return Session(make_engine(env["PHOTOGATE_DATABASE_URL"]), expire_on_commit=False)


def test_assign_and_remove_from_the_command_line(cli_env: dict[str, str]) -> None:
    with _session(cli_env) as session:
        event = make_event(session)
        photographer = make_staff(session, StaffRole.PHOTOGRAPHER, email="ph@example.test")
        admin = make_staff(session, StaffRole.SCHOOL_ADMIN, email="ad@example.test")
        session.commit()
        event_id = event.id

    assigned = _run(
        cli_env, "assign", "--event", str(event_id), "--photographer", "PH@example.test"
    )
    refused = _run(cli_env, "assign", "--event", str(event_id), "--photographer", "ad@example.test")
    missing = _run(cli_env, "assign", "--event", "999999", "--photographer", "ph@example.test")

    assert assigned.exit_code == 0, assigned.output
    assert refused.exit_code != 0
    assert "not an active photographer" in refused.output
    assert missing.exit_code != 0
    assert "no event" in missing.output
    with _session(cli_env) as session:
        loaded = session.get(Event, event_id)
        assert loaded is not None
        assert [p.id for p in loaded.photographers] == [photographer.id]
        actions = list(session.scalars(select(AuditEvent.action)))
        assert "studio.photographer_assigned" in actions
    assert admin.id != photographer.id

    removed = _run(
        cli_env, "assign", "--event", str(event_id), "--photographer", "ph@example.test", "--remove"
    )
    assert removed.exit_code == 0, removed.output
    with _session(cli_env) as session:
        loaded = session.get(Event, event_id)
        assert loaded is not None
        assert loaded.photographers == []


def test_token_command_prints_a_working_token_once(cli_env: dict[str, str]) -> None:
    with _session(cli_env) as session:
        make_staff(session, StaffRole.PHOTOGRAPHER, email="ph@example.test")
        session.commit()

    result = _run(cli_env, "token", "ph@example.test", "--name", "studio laptop")

    assert result.exit_code == 0, result.output
    token = result.output.strip()
    with _session(cli_env) as session:
        user = authenticate_api_token(session, token, now=utcnow())
        assert user is not None
        assert user.email == "ph@example.test"
        stored = session.scalar(select(ApiToken.token_hash))
        assert stored != token


def _cli_settings(env: dict[str, str]) -> Settings:
    return Settings(
        env="test",
        var_dir=Path(env["PHOTOGATE_VAR_DIR"]),
        database_url=env["PHOTOGATE_DATABASE_URL"],
    )


def test_retention_command_purges_due_photos(cli_env: dict[str, str]) -> None:
    app = create_app(_cli_settings(cli_env))
    runtime(app).jobs = JobQueue(None)
    with runtime(app).database.session_scope() as session:
        photographer = make_staff(session)
        now = utcnow()
        event = make_event(
            session,
            sale_starts_at=now - dt.timedelta(days=200),
            sale_ends_at=now - dt.timedelta(days=100),
        )
        event.photographers.append(photographer)
        token = create_api_token(session, photographer, "t", now=now).token
        event_id = event.id
    client = app.test_client()
    for seed in range(2):
        response = client.post(
            f"/api/studio/events/{event_id}/photos",
            data={"file": (io.BytesIO(photo_bytes(seed=seed)), f"{seed}.jpg")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201
    blob_dir = Path(cli_env["PHOTOGATE_VAR_DIR"]) / "blobs"
    assert len(blob_files(blob_dir)) == 8
    runtime(app).database.engine.dispose()

    dry = _run(cli_env, "retention", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"event {event_id}" in dry.output
    assert len(blob_files(blob_dir)) == 8

    result = _run(cli_env, "retention", "--batch", "1")

    assert result.exit_code == 0, result.output
    assert "2 photos purged, 8 blob files deleted" in result.output
    assert blob_files(blob_dir) == []
    with _session(cli_env) as session:
        statuses = set(session.scalars(select(Photo.status)))
        assert statuses == {PhotoStatus.PURGED}
        assert session.scalar(select(func.count()).select_from(PhotoDeletion)) == 2
        assert "studio.retention_purge" in set(session.scalars(select(AuditEvent.action)))
    again = _run(cli_env, "retention")
    assert "0 photos purged" in again.output


def test_retry_command_requeues_failed_photos(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.photos import processing

    app = create_app(_cli_settings(cli_env))
    runtime(app).jobs = JobQueue(None)
    with runtime(app).database.session_scope() as session:
        photographer = make_staff(session)
        event = make_event(session)
        event.photographers.append(photographer)
        token = create_api_token(session, photographer, "t", now=utcnow()).token
        event_id = event.id
        legacy = Photo(
            event_id=event.id, status=PhotoStatus.FAILED, original_sha256="0" * 64, byte_size=1
        )
        session.add(legacy)
        session.flush()
        legacy_id = legacy.id
    monkeypatch.setattr(processing, "perceptual_hash", lambda _image: 1 / 0)
    response = app.test_client().post(
        f"/api/studio/events/{event_id}/photos",
        data={"file": (io.BytesIO(photo_bytes()), "a.jpg")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.get_json()["photo"]["status"] == "failed"
    photo_id = response.get_json()["photo"]["id"]
    monkeypatch.undo()
    runtime(app).database.engine.dispose()

    result = _run(cli_env, "retry", "--event", str(event_id))

    assert result.exit_code == 0, result.output
    assert "2 photos queued again" in result.output
    with _session(cli_env) as session:
        retried = session.get(Photo, photo_id)
        assert retried is not None
        assert retried.status is PhotoStatus.READY
        # A row without a stored original fails again, with a reason, instead of hanging.
        hopeless = session.get(Photo, legacy_id)
        assert hopeless is not None
        assert hopeless.status is PhotoStatus.FAILED
        assert hopeless.failure_code == "storage"


# -- the upload tool ---------------------------------------------------------------


@pytest.fixture
def served(live_server: LiveServer) -> tuple[LiveServer, int, str]:
    """A live server with an event, its photographer and an API token."""
    runtime(live_server.app).jobs = JobQueue(None)
    with runtime(live_server.app).database.session_scope() as session:
        photographer = make_staff(session)
        event = make_event(session)
        event.photographers.append(photographer)
        token = create_api_token(session, photographer, "cli", now=utcnow()).token
        return live_server, event.id, token


def _photos_on(server: LiveServer) -> list[Photo]:
    with runtime(server.app).database.session_scope() as session:
        return list(session.scalars(select(Photo).order_by(Photo.id)))


def test_upload_tool_is_resumable(
    served: tuple[LiveServer, int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, event_id, token = served
    folder = tmp_path / "sports-day"
    (folder / "morning").mkdir(parents=True)
    for seed in range(3):
        (folder / "morning" / f"IMG_{seed:04}.JPG").write_bytes(photo_bytes(seed=seed))
    (folder / ".hidden.jpg").write_bytes(photo_bytes(seed=90))
    (folder / "notes.txt").write_text("not a photo")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    args = ["upload", "--event", str(event_id), str(folder), "--url", server.url]

    first = CliRunner().invoke(cli, ["studio", *args, "--token-file", str(token_file)])

    assert first.exit_code == 0, first.output
    assert "3 files: 3 uploaded" in first.output
    assert len(_photos_on(server)) == 3

    # More photos arrive; the run is repeated (the token now from the environment).
    (folder / "afternoon").mkdir()
    for seed in range(3, 5):
        (folder / "afternoon" / f"IMG_{seed:04}.heic.jpg").write_bytes(photo_bytes(seed=seed))
    second = CliRunner().invoke(cli, ["studio", *args], env={"PHOTOGATE_API_TOKEN": token})

    assert second.exit_code == 0, second.output
    assert "5 files: 2 uploaded, 3 skipped" in second.output
    photos = _photos_on(server)
    assert len(photos) == 5
    assert {p.status for p in photos} == {PhotoStatus.READY}
    assert ".hidden.jpg" not in {p.original_filename for p in photos}


def test_upload_tool_reports_refused_and_duplicate_files(
    served: tuple[LiveServer, int, str], tmp_path: Path
) -> None:
    server, event_id, token = served
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(photo_bytes(seed=1))
    shutil.copy(folder / "a.jpg", folder / "b.jpg")
    (folder / "c.jpg").write_bytes(b"<html><script>alert(1)</script></html>")

    result = CliRunner().invoke(
        cli,
        [
            "studio",
            "upload",
            "--event",
            str(event_id),
            str(folder),
            "--url",
            server.url,
            "--token",
            token,
            "--language",
            "en",
            "--jobs",
            "1",
        ],
    )

    assert result.exit_code == 1
    assert "1 uploaded" in result.output
    assert "1 duplicate" in result.output
    assert "1 rejected" in result.output
    assert "looks like HTML" in result.output
    assert len(_photos_on(server)) == 1


def test_upload_tool_stops_on_a_bad_token_or_an_unassigned_event(
    served: tuple[LiveServer, int, str], tmp_path: Path
) -> None:
    server, event_id, token = served
    (tmp_path / "a.jpg").write_bytes(photo_bytes())
    base = ["studio", "upload", str(tmp_path), "--url", server.url, "--language", "en"]

    bad_token = CliRunner().invoke(cli, [*base, "--event", str(event_id), "--token", "pgs_nope"])
    other_event = CliRunner().invoke(
        cli, [*base, "--event", str(event_id + 1000), "--token", token]
    )
    no_token = CliRunner().invoke(
        cli, [*base, "--event", str(event_id)], env={"PHOTOGATE_API_TOKEN": ""}
    )

    assert bad_token.exit_code == 1
    assert "not valid" in bad_token.output
    assert other_event.exit_code == 1
    assert no_token.exit_code == 2
    assert _photos_on(server) == []
