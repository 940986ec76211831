"""Fixtures of the identity tests: the app registered with the real loopback provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.auth.local_provider import ClientSpec, LocalProvider
from app.config import OidcProviderConfig, Settings

PROVIDER_NAME = "local"


@pytest.fixture(scope="session")
def oidc_secret_file(tmp_path_factory: pytest.TempPathFactory, oidc_client: ClientSpec) -> Path:
    """The test client's secret, in a file as production configures it."""
    path = tmp_path_factory.mktemp("oidc") / "client_secret"
    path.write_text(oidc_client.client_secret)
    path.chmod(0o600)
    return path


def provider_config(
    provider: LocalProvider, client: ClientSpec, secret_file: Path
) -> OidcProviderConfig:
    return OidcProviderConfig(
        name=PROVIDER_NAME,
        issuer=provider.issuer,
        client_id=client.client_id,
        client_secret_file=secret_file,
        label="Test provider",
    )


@pytest.fixture
def settings(
    settings: Settings,
    oidc_provider: LocalProvider,
    oidc_client: ClientSpec,
    oidc_secret_file: Path,
) -> Settings:
    """The shared test settings with the loopback provider registered."""
    return settings.with_overrides(
        oidc_providers=(provider_config(oidc_provider, oidc_client, oidc_secret_file),)
    )


@pytest.fixture
def live_server_overrides(
    oidc_provider: LocalProvider, oidc_client: ClientSpec, oidc_secret_file: Path
) -> dict[str, Any]:
    return {"oidc_providers": (provider_config(oidc_provider, oidc_client, oidc_secret_file),)}
