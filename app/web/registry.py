"""The one place that lists every blueprint and every command group.

A new feature adds its blueprint to :func:`register_blueprints` and its command group to
:func:`register_commands`; nothing else registers routes or commands.
"""

from __future__ import annotations

import click
from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Every feature's routes."""
    from app.admin.views import bp as admin
    from app.auth.views import bp as auth
    from app.downloads.views import bp as downloads
    from app.families.views import bp as families
    from app.gallery.views import bp as gallery
    from app.guard.views import bp as guard
    from app.investigate.views import bp as investigate
    from app.main.views import bp as main
    from app.orders.views import bp as orders
    from app.orders.webhooks import bp as stripe_webhooks
    from app.studio.api import bp as studio_api
    from app.studio.views import bp as studio

    blueprints = (
        *(main, auth, families, gallery, orders, stripe_webhooks, downloads, guard),
        *(admin, studio, studio_api, investigate),
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)


def register_commands(cli: click.Group) -> None:
    """Every feature's command group under ``photogate``."""
    from app.audit.cli import audit
    from app.commands.keys import keys
    from app.commands.watermark import watermark
    from app.guard.cli import guard
    from app.investigate.cli import investigate
    from app.studio.cli import studio

    for group in (audit, guard, keys, studio, watermark, investigate):
        cli.add_command(group)
