"""``photogate keys …``: the state of the keys, rotating them, and re-wrapping photo keys.

Rotation keeps the old key: a retired watermark key still reads marks made with it (an
investigation may come years later), and a retired key-encryption key (KEK) still unwraps
the photo keys not yet re-wrapped.  ``rotate`` writes the new key where the settings say
the current one lives and moves the old one into the retired-keys directory; processes
pick the change up when they restart.  Where secrets are mounted read-only (Docker
secrets), put the files in place by hand instead and run ``rewrap``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from app.runtime import Runtime

#: Which secret each ``rotate`` argument names (see app.config.SECRET_FILES).
_ROTATABLE = {"kek": "kek", "watermark": "watermark_key"}


@click.group()
def keys() -> None:
    """Key-encryption and watermark keys: status, rotation, re-wrapping."""


def _runtime() -> Runtime:
    from app.web.context import runtime

    return runtime()


@keys.command("status")
@with_appcontext
def status_command() -> None:
    """Print the key ids in use and how many photo keys each KEK wraps."""
    from sqlalchemy import select

    from app.photos.models import Photo
    from app.storage import wrapped_key_id

    runtime = _runtime()
    counts: dict[str, int] = {}
    with runtime.database.session_scope(write=False) as session:
        for wrapped in session.scalars(
            select(Photo.wrapped_key).where(Photo.wrapped_key.is_not(None))
        ):
            if wrapped is not None:
                key_id = wrapped_key_id(wrapped)
                counts[key_id] = counts.get(key_id, 0) + 1
    keyring = runtime.blobs.keyring
    click.echo(f"key-encryption key: current {keyring.current.key_id}")
    for key_id in sorted(keyring.key_ids):
        label = "current" if key_id == keyring.current.key_id else "retired"
        click.echo(f"  {key_id} ({label}): wraps {counts.pop(key_id, 0)} photo keys")
    for key_id, count in sorted(counts.items()):
        click.echo(f"  {key_id} (MISSING from the keyring): wraps {count} photo keys")
    marks = runtime.watermarks
    click.echo(f"watermark key: current {marks.current_id}")
    for version in marks.versions[1:]:
        click.echo(f"  {version} (retired, still read)")


@keys.command("rotate")
@click.argument("which", type=click.Choice(sorted(_ROTATABLE)))
@with_appcontext
def rotate_command(which: str) -> None:
    """Make a new current key; the old one moves to the retired-keys directory."""
    from app.config import read_secret_file, write_secret_file
    from app.storage import fingerprint

    settings = _runtime().settings
    name = _ROTATABLE[which]
    current = Path(settings.secret_files[name])
    retired_dir = Path(settings.retired_key_dirs[name])
    old = read_secret_file(current)
    retired_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept = retired_dir / f"{fingerprint(old)}.key"
    try:
        if not kept.exists():
            # Written before the current file changes: a crash in between loses no key.
            kept.write_bytes(old + b"\n")
            kept.chmod(0o600)
        staged = current.with_name(current.name + ".new")
        staged.unlink(missing_ok=True)
        write_secret_file(staged)
        os.replace(staged, current)
    except OSError as error:
        raise click.ClickException(
            f"cannot write the key files ({error.strerror or error}); where secrets are "
            "read-only, install the new key and move the old one into "
            f"{retired_dir} by hand"
        ) from None
    new_id = fingerprint(read_secret_file(current))
    click.echo(f"{which}: new current key {new_id}; the old key {fingerprint(old)} is retired")
    if which == "kek":
        click.echo("restart every PhotoGate process, then run: photogate keys rewrap")
    else:
        click.echo("restart every PhotoGate process; marks made with the old key still read")


@keys.command("rewrap")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000))
@with_appcontext
def rewrap_command(batch: int) -> None:
    """Re-wrap every photo key, and re-seal every TOTP secret, that a retired KEK still
    protects with the current KEK."""
    from sqlalchemy import select

    from app.photos.models import Photo
    from app.storage import StorageError

    runtime = _runtime()
    blobs = runtime.blobs
    done = failed = 0
    last_id = 0
    while True:
        with runtime.database.session_scope() as session:
            photos = session.scalars(
                select(Photo)
                .where(Photo.id > last_id, Photo.wrapped_key.is_not(None))
                .order_by(Photo.id)
                .limit(batch)
            ).all()
            for photo in photos:
                last_id = photo.id
                wrapped = photo.wrapped_key
                if wrapped is None or not blobs.needs_rewrap(wrapped):
                    continue
                try:
                    photo.wrapped_key = blobs.rewrap(wrapped)
                except StorageError as error:
                    failed += 1
                    click.echo(f"photo {photo.id}: cannot re-wrap ({error})", err=True)
                    continue
                done += 1
        if len(photos) < batch:
            break
    click.echo(f"{done} photo keys re-wrapped with {blobs.keyring.current.key_id}")
    resealed = _reseal_totp_secrets(runtime)
    click.echo(f"{resealed} TOTP secrets sealed with {blobs.keyring.current.key_id}")
    if failed:
        raise click.ClickException(f"{failed} photo keys could not be re-wrapped")


def _reseal_totp_secrets(runtime: Runtime) -> int:
    """Seal every staff TOTP seed with the current KEK (plain ones from before sealing too)."""
    from sqlalchemy import select

    from app.auth.models import StaffUser
    from app.auth.totp import needs_reseal, open_secret, seal_secret, staff_owner

    keyring = runtime.blobs.keyring
    count = 0
    with runtime.database.session_scope() as session:
        for user in session.scalars(select(StaffUser).where(StaffUser.totp_secret.is_not(None))):
            stored = user.totp_secret
            if stored is None or not needs_reseal(keyring, stored):
                continue
            owner = staff_owner(user.id)
            user.totp_secret = seal_secret(keyring, owner, open_secret(keyring, owner, stored))
            count += 1
    return count
