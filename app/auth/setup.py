"""Wiring of the identity features into the application factory."""

from __future__ import annotations

from flask import Flask

from app.audit.services import audit_key
from app.auth.login import init_login
from app.auth.oidc import OidcClient, Provider
from app.clock import install_clock
from app.config import ConfigError, OidcProviderConfig, Secrets, Settings, ensure_secret_file

LOCAL_PROVIDER_NAME = "local"
LOCAL_CLIENT_ID = "photogate-demo"
CODES_KEY_INFO = b"photogate codes"


def local_provider_config(settings: Settings) -> OidcProviderConfig | None:
    """The demo's local provider (development only; never in production)."""
    if settings.local_oidc_port is None or settings.is_production:
        return None
    return OidcProviderConfig(
        name=LOCAL_PROVIDER_NAME,
        issuer=f"http://127.0.0.1:{settings.local_oidc_port}",
        client_id=LOCAL_CLIENT_ID,
        client_secret_file=settings.local_oidc_secret_file,
        label="Demo provider (local)",
    )


def load_providers(settings: Settings) -> list[Provider]:
    """Every configured provider with its client secret and exact redirect URI."""
    configs = list(settings.oidc_providers)
    local = local_provider_config(settings)
    if local is not None:
        ensure_secret_file(local.client_secret_file)
        configs.append(local)
    providers = []
    for config in configs:
        try:
            secret = config.client_secret_file.read_text(encoding="utf-8").strip()
        except OSError:
            raise ConfigError(
                f"PHOTOGATE_OIDC_PROVIDERS_FILE: cannot read the client secret of "
                f"{config.name!r} from {config.client_secret_file}"
            ) from None
        if not secret:
            raise ConfigError(f"the client secret file of {config.name!r} is empty")
        providers.append(
            Provider(
                config=config,
                client_secret=secret,
                # Built from the configured public URL only, never from the Host header.
                redirect_uri=f"{settings.public_url}/auth/callback/{config.name}",
            )
        )
    return providers


def init_identity(app: Flask, settings: Settings, secrets: Secrets) -> None:
    """Clock, keys, OpenID providers, the session layer and the identity blueprints."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    install_clock(app)
    app.extensions["photogate.audit_key"] = audit_key(secrets.flask_secret)
    app.extensions["photogate.codes_key"] = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=CODES_KEY_INFO
    ).derive(secrets.flask_secret)
    app.extensions["photogate.oidc"] = OidcClient(load_providers(settings))
    init_login(app)

    from app.admin.views import bp as admin_bp
    from app.auth.views import bp as auth_bp
    from app.families.views import bp as families_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(families_bp)
    app.register_blueprint(admin_bp)
