"""The OpenID providers families sign in with: configured ones and the demo's local one."""

from __future__ import annotations

from app.auth.oidc import Provider
from app.config import ConfigError, OidcProviderConfig, Settings, ensure_secret_file

LOCAL_PROVIDER_NAME = "local"
LOCAL_CLIENT_ID = "photogate-demo"


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
