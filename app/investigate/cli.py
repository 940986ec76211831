"""``photogate investigate SUSPECT``: the console's search from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext


@click.command("investigate")
@click.argument("suspect", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--school", "school_id", type=int, help="Search this school's photos only.")
@click.option(
    "--original", "original_id", type=int, help="The photo the suspect is thought to come from."
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
@with_appcontext
def investigate(
    suspect: Path, school_id: int | None, original_id: int | None, as_json: bool
) -> None:
    """Open a case for a suspect image, search for its source and print the verdict."""
    from app.audit.models import ActorKind
    from app.audit.services import record
    from app.auth.policies import SYSTEM
    from app.errors import AppError
    from app.investigate.services import open_case, search_case, verdict_json
    from app.photos.models import Photo
    from app.schools.models import School
    from app.web.context import runtime

    held = runtime()
    limit = held.limits.max_bytes
    with suspect.open("rb") as handle:
        data = handle.read(limit + 1)
    with held.database.session_scope() as session:
        try:
            if school_id is not None and session.get(School, school_id) is None:
                raise click.ClickException(f"no school {school_id}")
            original = session.get(Photo, original_id) if original_id is not None else None
            if original_id is not None and original is None:
                raise click.ClickException(f"no photo {original_id}")
            case, image = open_case(
                session,
                held.blobs,
                SYSTEM,
                data=data,
                school_id=school_id,
                limits=held.limits,
                now=held.now(),
            )
            search_case(
                session,
                held.blobs,
                held.watermarks,
                SYSTEM,
                case,
                image=image,
                now=held.now(),
                original=original,
                index_dir=held.settings.index_dir,
            )
        except AppError as error:
            raise click.ClickException(error.message or type(error).__name__) from None
        record(
            session,
            key=held.keys.audit,
            action="investigate.case_opened",
            actor_kind=ActorKind.SYSTEM,
            subject=f"investigation:{case.id}",
            details={
                "suspect_sha256": case.suspect_sha256,
                "verdict": case.verdict.value if case.verdict else "",
                "delivery_id": case.delivery_id,
                "photo_id": case.photo_id,
            },
            now=held.now(),
        )
        body = verdict_json(session, case)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, sort_keys=True))
        return
    click.echo(f"case {body['case']}: {body['verdict']}")
    if body["delivery"]:
        delivery = body["delivery"]
        who = delivery["guardian"]["email"] if delivery["guardian"] else "staff"
        click.echo(
            f"delivery {delivery['id']} ({delivery['kind']}) to {who} at "
            f"{delivery['created_at']} from {delivery['ip']}"
        )
    if body["photo"]:
        click.echo(f"photo {body['photo']['id']}: {len(body['receivers'])} deliveries")
