"""Settings: the one place that reads ``PHOTOGATE_*`` environment variables.

Everything else receives a :class:`Settings` instance.  The embedded default needs no
variables at all: SQLite and files under ``var/``, secrets generated once under
``var/secrets/``.  Production refuses to start on a setting that would be unsafe.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets as _secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

Environment = Literal["development", "production", "test"]
ENVIRONMENTS: tuple[Environment, ...] = ("development", "production", "test")

#: Secret name -> (environment variable naming its file, default file name under var/secrets).
SECRET_FILES: dict[str, tuple[str, str]] = {
    "flask_secret": ("PHOTOGATE_SECRET_KEY_FILE", "flask_secret.key"),
    "watermark_key": ("PHOTOGATE_WATERMARK_KEY_FILE", "watermark.key"),
    "kek": ("PHOTOGATE_KEK_FILE", "kek.key"),
}
SECRET_BYTES = 32
MIN_SECRET_BYTES = 32


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message names the variable to fix."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _parse_networks(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated CIDR networks ("203.0.113.0/24, 2001:db8::/48")."""
    networks = []
    for part in raw.split(","):
        text = part.strip()
        if not text:
            continue
        try:
            networks.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not a network") from None
    return tuple(networks)


def _parse_int(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


#: Directories of retired keys, kept so that old marks and old wrapped keys stay readable.
RETIRED_KEY_DIRS: dict[str, tuple[str, str]] = {
    "watermark_key": ("PHOTOGATE_WATERMARK_RETIRED_KEYS_DIR", "watermark-retired"),
    "kek": ("PHOTOGATE_KEK_RETIRED_KEYS_DIR", "kek-retired"),
}
BlobStoreKind = Literal["local", "s3"]
#: Where the Stripe API answers unless PHOTOGATE_STRIPE_API_BASE says otherwise.
STRIPE_API_BASE = "https://api.stripe.com"


@dataclass(frozen=True)
class Secrets:
    """The three independent secrets (each at least 32 random bytes), and retired keys."""

    flask_secret: bytes = field(repr=False)
    watermark_key: bytes = field(repr=False)
    kek: bytes = field(repr=False)
    #: Watermark keys no longer used for new marks, still tried when reading a suspect.
    watermark_retired: tuple[bytes, ...] = field(default=(), repr=False)
    #: Key-encryption keys that only unwrap rows not yet re-wrapped with the current one.
    kek_retired: tuple[bytes, ...] = field(default=(), repr=False)


def read_secret_file(path: Path, variable: str = "") -> bytes:
    """The secret in ``path``: its bytes without surrounding whitespace, at least 32 of them.

    The one key format of the project: the files PhotoGate generates hold 64 hex digits
    and a newline, but any file of 32 or more random bytes works.
    """
    where = f"{variable}: " if variable else ""
    try:
        data = path.read_bytes().strip()
    except OSError as error:
        raise ConfigError(f"{where}cannot read {path}: {error.strerror or error}") from None
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{where}the secret in {path} has {len(data)} bytes; "
            f"a secret needs at least {MIN_SECRET_BYTES}"
        )
    return data


def write_secret_file(path: Path) -> bool:
    """Create ``path`` holding a new random secret (mode 0600); False if it already exists."""
    return _create_secret_file(path)


#: Provider names appear in callback URLs (/auth/callback/<name>), so they stay URL-safe.
_PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
#: Names of this machine, where cookies without the Secure flag cannot be planted by a
#: network attacker.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Port of the local OpenID provider of the development demo (stable, so its issuer is too).
DEFAULT_LOCAL_OIDC_PORT = 5001


@dataclass(frozen=True)
class OidcProviderConfig:
    """One OpenID Connect provider families can sign in with (Google, Microsoft, LINE, ...)."""

    name: str
    #: The exact issuer identifier; discovery metadata and ID tokens must name it verbatim.
    issuer: str
    client_id: str
    #: The client secret is read from this file, never from the providers file itself.
    client_secret_file: Path
    label: str = ""
    #: Where the metadata lives when it is not under the issuer (e.g. Microsoft's consumers
    #: tenant publishes a tenant-specific issuer).
    discovery_url: str = ""
    scopes: str = "openid email profile"

    def __post_init__(self) -> None:
        if not self.discovery_url:
            object.__setattr__(
                self,
                "discovery_url",
                self.issuer.rstrip("/") + "/.well-known/openid-configuration",
            )
        if not self.label:
            object.__setattr__(self, "label", self.name)


def _read_oidc_providers(path: Path) -> tuple[OidcProviderConfig, ...]:
    variable = "PHOTOGATE_OIDC_PROVIDERS_FILE"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ConfigError(f"{variable}: cannot read {path}") from None
    except ValueError as error:
        raise ConfigError(f"{variable}: {path} is not valid JSON ({error})") from None
    if not isinstance(raw, list):
        raise ConfigError(f"{variable}: {path} must hold a JSON list of providers")
    providers = []
    for index, entry in enumerate(raw):
        where = f"{variable}: provider #{index + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a JSON object")
        if "client_secret" in entry:
            raise ConfigError(f"{where}: give client_secret_file (a path), not client_secret")
        unknown = set(entry) - {
            "name",
            "issuer",
            "client_id",
            "client_secret_file",
            "label",
            "discovery_url",
            "scopes",
        }
        if unknown:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        missing = [
            k for k in ("name", "issuer", "client_id", "client_secret_file") if k not in entry
        ]
        if missing:
            raise ConfigError(f"{where}: missing {', '.join(missing)}")
        if not all(isinstance(value, str) for value in entry.values()):
            raise ConfigError(f"{where}: every value must be a string")
        secret_file = Path(entry["client_secret_file"])
        if not secret_file.is_absolute():
            secret_file = path.parent / secret_file
        providers.append(
            OidcProviderConfig(
                name=entry["name"],
                issuer=entry["issuer"],
                client_id=entry["client_id"],
                client_secret_file=secret_file,
                label=entry.get("label", ""),
                discovery_url=entry.get("discovery_url", ""),
                scopes=entry.get("scopes", "openid email profile"),
            )
        )
    return tuple(providers)


def _smtp_url(raw: str) -> str:
    """The SMTP URL, checked: a scheme this portal speaks and a host."""
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
        raise ConfigError(
            "PHOTOGATE_SMTP_URL must be smtp://, smtp+starttls:// or smtps://[user@]host[:port]"
        )
    if parts.password:
        raise ConfigError(
            "PHOTOGATE_SMTP_URL must not hold a password: use PHOTOGATE_SMTP_PASSWORD_FILE"
        )
    return raw


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of one PhotoGate process."""

    env: Environment = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:5000"
    cookie_secure: bool = False
    trusted_proxies: int = 0
    default_locale: str = "ja"
    max_upload_bytes: int = 60 * 1024 * 1024
    log_level: str = "INFO"
    secret_files: Mapping[str, Path] = field(default_factory=dict)
    #: The OpenID Connect providers families sign in with.
    oidc_providers: tuple[OidcProviderConfig, ...] = ()
    #: Development only: the port of the local OpenID provider of the demo families
    #: (``photogate serve`` starts it); None means no local provider.
    local_oidc_port: int | None = None
    #: Directories of retired keys (see RETIRED_KEY_DIRS); default under var/secrets.
    retired_key_dirs: Mapping[str, Path] = field(default_factory=dict)
    #: Where encrypted photo blobs live: files under var/blobs, or an S3-compatible bucket.
    blob_store: BlobStoreKind = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    #: An S3-compatible endpoint (MinIO, Ceph, …); empty means AWS itself.
    s3_endpoint_url: str = ""
    s3_region: str = ""
    #: Days a family has to pay an order by school invoice (bank transfer or cash) before it
    #: expires and its photos go back to the cart's choice.
    invoice_days: int = 14
    #: Stripe Checkout (card and konbini) is offered when a secret key file is configured;
    #: the webhook's signing secret is then required too.  Both are read from files.
    stripe_secret_key_file: Path | None = None
    stripe_webhook_secret_file: Path | None = None
    #: The Stripe API address (tests point it at a local server).
    stripe_api_base: str = STRIPE_API_BASE
    #: School networks (CIDR) whose many families signing in are expected (open days):
    #: the guard's per-network rules leave them out.
    guard_school_networks: tuple[str, ...] = ()
    #: Where the audit chain's head is written from time to time, outside the database, so
    #: that deleting the newest audit rows is noticed too; default var/audit-anchors.jsonl.
    audit_anchor_file: Path | None = None
    #: Outgoing mail: ``smtp://``, ``smtp+starttls://`` or ``smtps://[user@]host[:port]``;
    #: empty writes each message to var/mail/ (see app.mail.services).
    smtp_url: str = ""
    smtp_password_file: Path | None = None
    mail_from: str = "PhotoGate <no-reply@localhost>"

    def __post_init__(self) -> None:
        # Derived defaults depend on var_dir, so they are filled in here rather than in
        # field defaults; object.__setattr__ is the documented way for frozen dataclasses.
        var_dir = self.var_dir
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{(var_dir / 'photogate.db').resolve()}"
            )
        files = {
            name: Path(self.secret_files.get(name, var_dir / "secrets" / default))
            for name, (_, default) in SECRET_FILES.items()
        }
        object.__setattr__(self, "secret_files", files)
        retired = {
            name: Path(self.retired_key_dirs.get(name, var_dir / "secrets" / default))
            for name, (_, default) in RETIRED_KEY_DIRS.items()
        }
        object.__setattr__(self, "retired_key_dirs", retired)

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``PHOTOGATE_*`` variables (``os.environ`` by default)."""
        env_vars = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env_vars.get(name)
            return value if value not in (None, "") else None

        env_raw = get("PHOTOGATE_ENV") or "development"
        if env_raw not in ENVIRONMENTS:
            raise ConfigError(
                f"PHOTOGATE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env_raw!r}"
            )
        env: Environment = env_raw
        var_dir = Path(get("PHOTOGATE_VAR_DIR") or "var")
        cookie_raw = get("PHOTOGATE_COOKIE_SECURE")
        cookie_secure = (
            _parse_bool("PHOTOGATE_COOKIE_SECURE", cookie_raw)
            if cookie_raw is not None
            else env == "production"
        )
        secret_files = {
            name: Path(path)
            for name, (var, _) in SECRET_FILES.items()
            if (path := get(var)) is not None
        }
        database_url = get("PHOTOGATE_DATABASE_URL") or ""
        password_file = get("PHOTOGATE_DATABASE_PASSWORD_FILE")
        if password_file is not None:
            database_url = _with_password(database_url, Path(password_file))
        providers_file = get("PHOTOGATE_OIDC_PROVIDERS_FILE")
        oidc_providers = _read_oidc_providers(Path(providers_file)) if providers_file else ()
        retired_key_dirs = {
            name: Path(path)
            for name, (var, _) in RETIRED_KEY_DIRS.items()
            if (path := get(var)) is not None
        }
        blob_store = get("PHOTOGATE_BLOB_STORE") or "local"
        if blob_store not in ("local", "s3"):
            raise ConfigError(f"PHOTOGATE_BLOB_STORE must be local or s3, not {blob_store!r}")
        stripe_key_file = get("PHOTOGATE_STRIPE_SECRET_KEY_FILE")
        stripe_webhook_file = get("PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE")
        local_port_raw = get("PHOTOGATE_LOCAL_OIDC_PORT")
        local_oidc_port = (
            _parse_int("PHOTOGATE_LOCAL_OIDC_PORT", local_port_raw or "0")
            if local_port_raw is not None
            else DEFAULT_LOCAL_OIDC_PORT
        )
        settings = cls(
            env=env,
            var_dir=var_dir,
            database_url=database_url,
            redis_url=get("PHOTOGATE_REDIS_URL"),
            public_url=(get("PHOTOGATE_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
            cookie_secure=cookie_secure,
            trusted_proxies=_parse_int(
                "PHOTOGATE_TRUSTED_PROXIES", get("PHOTOGATE_TRUSTED_PROXIES") or "0"
            ),
            default_locale=get("PHOTOGATE_DEFAULT_LOCALE") or "ja",
            max_upload_bytes=_parse_int(
                "PHOTOGATE_MAX_UPLOAD_BYTES",
                get("PHOTOGATE_MAX_UPLOAD_BYTES") or str(60 * 1024 * 1024),
                minimum=1024,
            ),
            log_level=(get("PHOTOGATE_LOG_LEVEL") or "INFO").upper(),
            secret_files=secret_files,
            oidc_providers=oidc_providers,
            # Only the development demo runs a local provider; 0 switches it off.
            local_oidc_port=(local_oidc_port or None) if env == "development" else None,
            retired_key_dirs=retired_key_dirs,
            blob_store="s3" if blob_store == "s3" else "local",
            s3_bucket=get("PHOTOGATE_S3_BUCKET") or "",
            s3_prefix=get("PHOTOGATE_S3_PREFIX") or "",
            s3_endpoint_url=get("PHOTOGATE_S3_ENDPOINT_URL") or "",
            s3_region=get("PHOTOGATE_S3_REGION") or "",
            invoice_days=_parse_int(
                "PHOTOGATE_INVOICE_DAYS", get("PHOTOGATE_INVOICE_DAYS") or "14", minimum=1
            ),
            stripe_secret_key_file=Path(stripe_key_file) if stripe_key_file else None,
            stripe_webhook_secret_file=Path(stripe_webhook_file) if stripe_webhook_file else None,
            stripe_api_base=(get("PHOTOGATE_STRIPE_API_BASE") or STRIPE_API_BASE).rstrip("/"),
            guard_school_networks=_parse_networks(
                "PHOTOGATE_GUARD_SCHOOL_NETWORKS", get("PHOTOGATE_GUARD_SCHOOL_NETWORKS") or ""
            ),
            smtp_url=_smtp_url(get("PHOTOGATE_SMTP_URL") or ""),
            smtp_password_file=Path(smtp_password)
            if (smtp_password := get("PHOTOGATE_SMTP_PASSWORD_FILE"))
            else None,
            mail_from=get("PHOTOGATE_MAIL_FROM") or "PhotoGate <no-reply@localhost>",
            audit_anchor_file=Path(anchor_file)
            if (anchor_file := get("PHOTOGATE_AUDIT_ANCHOR_FILE"))
            else None,
        )
        settings.validate()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (derived defaults recomputed)."""
        return replace(self, **changes)

    # -- derived ---------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_host(self) -> str:
        """The host name of the public URL (no port)."""
        from urllib.parse import urlsplit

        return urlsplit(self.public_url).hostname or ""

    @property
    def trusted_hosts(self) -> list[str]:
        """The Host names the application answers."""
        hosts = [self.public_host]
        if not self.is_production:
            hosts += [host for host in LOOPBACK_HOSTS if host not in hosts]
        return hosts

    @property
    def stripe_enabled(self) -> bool:
        """Whether families may pay through Stripe Checkout."""
        return self.stripe_secret_key_file is not None

    @property
    def audit_anchors(self) -> Path:
        """The file the audit chain's head is appended to (see :mod:`app.audit.anchors`)."""
        return self.audit_anchor_file or self.var_dir / "audit-anchors.jsonl"

    @property
    def index_dir(self) -> Path:
        """The leak investigation's memory-mapped feature indexes (app.investigate.index_files)."""
        return self.var_dir / "index"

    @property
    def blob_dir(self) -> Path:
        return self.var_dir / "blobs"

    @property
    def local_oidc_secret_file(self) -> Path:
        """The demo provider's client secret (generated once, development only)."""
        return self.var_dir / "secrets" / "local_oidc_client.key"

    # -- checks ----------------------------------------------------------------------

    def validate(self) -> None:
        """Refuse unsafe production settings with a message naming the variable."""
        if self.default_locale not in {"ja", "en"}:
            raise ConfigError("PHOTOGATE_DEFAULT_LOCALE must be ja or en")
        if not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("PHOTOGATE_PUBLIC_URL must start with http:// or https://")
        self._validate_oidc_providers()
        if self.local_oidc_port is not None and not 0 < self.local_oidc_port < 65536:
            raise ConfigError("PHOTOGATE_LOCAL_OIDC_PORT must be a TCP port (1-65535), or 0")
        self._validate_blob_store()
        self._validate_stripe()
        if not self.is_production:
            return
        if self.local_oidc_port is not None:
            raise ConfigError("the local OpenID provider is for development only")
        if self.is_sqlite:
            raise ConfigError(
                "PHOTOGATE_DATABASE_URL must point at PostgreSQL in production "
                "(SQLite is for the embedded default only)"
            )
        if not self.cookie_secure:
            raise ConfigError(
                "PHOTOGATE_COOKIE_SECURE must not be false in production: "
                "session cookies would travel over plain HTTP"
            )
        if not self.public_url.startswith("https://"):
            raise ConfigError("PHOTOGATE_PUBLIC_URL must be an https:// address in production")
        for name, (var, _) in SECRET_FILES.items():
            path = self.secret_files[name]
            if not path.is_file():
                raise ConfigError(f"{var} must name an existing secret file in production")

    def _validate_blob_store(self) -> None:
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ConfigError("PHOTOGATE_BLOB_STORE=s3 needs PHOTOGATE_S3_BUCKET")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            raise ConfigError("PHOTOGATE_S3_ENDPOINT_URL must be an http(s) URL")
        if self.is_production and self.s3_endpoint_url.startswith("http://"):
            raise ConfigError("PHOTOGATE_S3_ENDPOINT_URL must be https:// in production")

    def _validate_stripe(self) -> None:
        if self.stripe_webhook_secret_file is not None and self.stripe_secret_key_file is None:
            raise ConfigError(
                "PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE needs PHOTOGATE_STRIPE_SECRET_KEY_FILE"
            )
        if self.stripe_secret_key_file is not None and self.stripe_webhook_secret_file is None:
            # Without the webhook nothing would ever mark a Stripe order paid.
            raise ConfigError(
                "PHOTOGATE_STRIPE_SECRET_KEY_FILE needs PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE"
            )
        base = self.stripe_api_base
        if not base.startswith(("http://", "https://")):
            raise ConfigError("PHOTOGATE_STRIPE_API_BASE must be an http(s) URL")
        if self.is_production and not base.startswith("https://"):
            raise ConfigError("PHOTOGATE_STRIPE_API_BASE must be https:// in production")

    def load_stripe_keys(self) -> StripeKeys | None:
        """The Stripe API key and webhook signing secret, or None when Stripe is off."""
        if self.stripe_secret_key_file is None or self.stripe_webhook_secret_file is None:
            return None
        return StripeKeys(
            secret_key=_read_stripe_secret(
                self.stripe_secret_key_file, "PHOTOGATE_STRIPE_SECRET_KEY_FILE", ("sk_", "rk_")
            ),
            webhook_secret=_read_stripe_secret(
                self.stripe_webhook_secret_file,
                "PHOTOGATE_STRIPE_WEBHOOK_SECRET_FILE",
                ("whsec_",),
            ),
        )

    def _validate_oidc_providers(self) -> None:
        variable = "PHOTOGATE_OIDC_PROVIDERS_FILE"
        names: set[str] = set()
        for provider in self.oidc_providers:
            if not _PROVIDER_NAME.match(provider.name):
                raise ConfigError(
                    f"{variable}: provider name {provider.name!r} must be 1-32 characters "
                    "of a-z, 0-9 and -"
                )
            if provider.name in names:
                raise ConfigError(f"{variable}: provider name {provider.name!r} appears twice")
            names.add(provider.name)
            if provider.name == "local" and self.local_oidc_port is not None:
                raise ConfigError(f"{variable}: the name 'local' is taken by the demo provider")
            # Plain http is tolerated for loopback providers (tests, the demo), never in
            # production: the metadata and the token exchange must not travel in clear.
            for url in (provider.issuer, provider.discovery_url):
                secure = url.startswith("https://")
                if self.is_production and not secure:
                    raise ConfigError(f"{variable}: {url} must be https:// in production")
                if not secure and not url.startswith("http://"):
                    raise ConfigError(f"{variable}: {url} must be an http(s) URL")
            if not provider.client_id:
                raise ConfigError(f"{variable}: provider {provider.name!r} has no client_id")

    def load_secrets(self) -> Secrets:
        """Read the secrets; outside production, generate missing ones (mode 0600)."""
        values: dict[str, bytes] = {}
        for name, (var, _) in SECRET_FILES.items():
            path = self.secret_files[name]
            if not path.exists():
                if self.is_production:
                    raise ConfigError(f"{var} must name an existing secret file in production")
                _create_secret_file(path)
            values[name] = read_secret_file(path, var)
        retired: dict[str, tuple[bytes, ...]] = {}
        for name, (var, _) in RETIRED_KEY_DIRS.items():
            keys = [read_secret_file(path, var) for path in _key_files(self.retired_key_dirs[name])]
            # A current key also left among the retired ones is simply the current key.
            retired[name] = tuple(key for key in keys if key != values[name])
        return Secrets(
            flask_secret=values["flask_secret"],
            watermark_key=values["watermark_key"],
            kek=values["kek"],
            watermark_retired=retired["watermark_key"],
            kek_retired=retired["kek"],
        )


@dataclass(frozen=True)
class StripeKeys:
    """Stripe's secret (or restricted) API key and the webhook endpoint's signing secret."""

    secret_key: str = field(repr=False)
    webhook_secret: str = field(repr=False)


_STRIPE_SECRET = re.compile(r"^[A-Za-z0-9_]{16,255}$")


def _read_stripe_secret(path: Path, variable: str, prefixes: tuple[str, ...]) -> str:
    # Stripe issues these secrets, so they are checked for Stripe's shape rather than for
    # PhotoGate's 32 random bytes; a key pasted into the wrong file fails here, at start.
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{variable}: cannot read {path}: {error}") from None
    if not value.startswith(prefixes) or not _STRIPE_SECRET.match(value):
        raise ConfigError(
            f"{variable}: {path} must hold one Stripe secret starting with {' or '.join(prefixes)}"
        )
    return value


def _key_files(directory: Path) -> list[Path]:
    """The ``*.key`` files of a retired-keys directory, in name order (missing: none)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.glob("*.key") if path.is_file())


def _with_password(url: str, password_file: Path) -> str:
    # The password stays out of the URL variable (and so out of `ps` and compose files).
    from sqlalchemy.engine import make_url

    if not url:
        raise ConfigError("PHOTOGATE_DATABASE_PASSWORD_FILE needs PHOTOGATE_DATABASE_URL")
    try:
        password = password_file.read_text().strip()
    except OSError:
        raise ConfigError(
            f"PHOTOGATE_DATABASE_PASSWORD_FILE: cannot read {password_file}"
        ) from None
    rendered: str = make_url(url).set(password=password).render_as_string(hide_password=False)
    return rendered


def _create_secret_file(path: Path) -> bool:
    if not path.parent.exists():
        # A directory made for secrets is for secrets only; an existing one (the working
        # directory of `photogate watermark keygen --out key`) is left as it is.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(_secrets.token_hex(SECRET_BYTES).encode("ascii") + b"\n")
    return True


def ensure_secret_file(path: Path) -> None:
    """Create ``path`` with a random secret (mode 0600) unless it exists."""
    _create_secret_file(path)
