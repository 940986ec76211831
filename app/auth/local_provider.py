"""Start and stop the loopback OpenID provider in ``idp/`` (Node.js, panva's oidc-provider).

Tests sign families in against a real provider instead of a mock, and the demo uses the
same provider for its demo families. This module only launches it: standard library and
``requests``, nothing from Flask or the database.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import requests

logger = logging.getLogger(__name__)

IDP_DIR = Path(__file__).resolve().parents[2] / "idp"

#: The other issuer the tamper modes put where the real one belongs.
TAMPERED_ISSUER = "https://other-issuer.invalid"

# oidc-provider 9 uses node:crypto APIs that Node.js 20 introduced; older releases fail
# with obscure errors deep inside the provider.
MIN_NODE_MAJOR = 20

_STDERR_TAIL_CHARS = 4000


class LocalProviderError(RuntimeError):
    """The local provider could not be installed, started or driven."""


class TamperMode(StrEnum):
    """Ways the provider can misbehave on purpose (test hooks only)."""

    NONE = "none"
    WRONG_NONCE = "wrong_nonce"
    WRONG_AUD = "wrong_aud"
    EXPIRED = "expired"
    ALG_NONE = "alg_none"
    HS256_PUBKEY = "hs256_pubkey"
    BAD_SIGNATURE = "bad_signature"
    NO_ID_TOKEN = "no_id_token"  # noqa: S105 -- a mode name, not a credential
    WRONG_ISS_PARAM = "wrong_iss_param"
    METADATA_ISSUER_MISMATCH = "metadata_issuer_mismatch"
    OTHER_SUB = "other_sub"


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """A relying party registered at the provider (confidential, authorization code + PKCE)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: Sequence[str]

    def __post_init__(self) -> None:
        # A tuple keeps the frozen spec from changing under a running provider.
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))

    def to_config(self) -> dict[str, Any]:
        """The client as the provider's config file spells it."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
        }


@dataclass(frozen=True, slots=True)
class UserSpec:
    """An account that can sign in at the provider with a username and password."""

    sub: str
    username: str
    password: str = field(repr=False)
    email: str
    name: str

    def to_config(self) -> dict[str, str]:
        """The user as the provider's config file spells it."""
        return {
            "sub": self.sub,
            "username": self.username,
            "password": self.password,
            "email": self.email,
            "name": self.name,
        }


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise LocalProviderError(
            "npm was not found on PATH; install Node.js 20 or later (22 LTS recommended), "
            "then run `make install` (or `npm ci --prefix idp`)"
        )
    return npm


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise LocalProviderError(
            "node was not found on PATH; the local OpenID provider needs Node.js 20 or later "
            "(22 LTS recommended); install it, then run `make install` "
            "(or `npm ci --prefix idp`)"
        )
    return node


def _node_major(node: str) -> int:
    # The path comes from shutil.which and the arguments are fixed.
    result = subprocess.run(  # noqa: S603
        [node, "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    version = result.stdout.strip().lstrip("v")
    try:
        return int(version.split(".", 1)[0])
    except ValueError as exc:
        raise LocalProviderError(f"cannot tell the Node.js version from {version!r}") from exc


def is_installed(idp_dir: Path = IDP_DIR) -> bool:
    """Whether the provider's npm dependencies are present."""
    return (idp_dir / "node_modules" / "oidc-provider" / "package.json").is_file()


def ensure_installed(idp_dir: Path = IDP_DIR) -> None:
    """Install the provider's npm dependencies from the lock file if they are missing."""
    if is_installed(idp_dir):
        return
    npm = _npm()
    logger.info("installing the local OpenID provider: npm ci --prefix %s", idp_dir)
    # `npm ci` installs exactly what package-lock.json pins; arguments are fixed.
    result = subprocess.run(  # noqa: S603
        [npm, "ci", "--prefix", str(idp_dir), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout)[-_STDERR_TAIL_CHARS:]
        raise LocalProviderError(f"`npm ci --prefix {idp_dir}` failed:\n{tail}")


class LocalProvider:
    """A running loopback OpenID provider; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        clients: Sequence[ClientSpec],
        users: Sequence[UserSpec],
        port: int | None = None,
        test_hooks: bool = False,
        issuer_override: str | None = None,
        startup_timeout: float = 20.0,
        idp_dir: Path = IDP_DIR,
    ) -> None:
        if not clients:
            raise ValueError("the provider needs at least one client")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        if issuer_override is not None:
            parts = urlsplit(issuer_override)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                raise ValueError(f"issuer_override must be an http(s) origin: {issuer_override}")
            if parts.path or parts.query or parts.fragment:
                raise ValueError(f"issuer_override must have no path: {issuer_override}")
            if port is None:
                # The override names the port browsers use, so it cannot be picked at random.
                raise ValueError("issuer_override needs an explicit port")
        self.clients: tuple[ClientSpec, ...] = tuple(clients)
        self.users: tuple[UserSpec, ...] = tuple(users)
        self.test_hooks = test_hooks
        self._requested_port = port
        self._issuer_override = issuer_override
        self._startup_timeout = startup_timeout
        self._idp_dir = idp_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._stdout_path: Path | None = None
        self._stderr_path: Path | None = None
        self._issuer: str | None = None
        self._port: int | None = None
        self._http = requests.Session()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Launch node, wait until discovery answers, and return self."""
        if self._process is not None:
            raise LocalProviderError("the local provider is already running")
        node = _node()
        if _node_major(node) < MIN_NODE_MAJOR:
            raise LocalProviderError(f"the local OpenID provider needs Node.js {MIN_NODE_MAJOR}+")
        if not is_installed(self._idp_dir):
            raise LocalProviderError(
                f"{self._idp_dir / 'node_modules'} is missing: run `make install` "
                "(or `npm ci --prefix idp`)"
            )
        self._workdir = tempfile.TemporaryDirectory(prefix="photogate-idp-")
        workdir = Path(self._workdir.name)
        config_path = workdir / "config.json"
        # The file holds client secrets and passwords: readable by this user only.
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._config(), fh)
        # Output goes to files rather than pipes so a chatty provider can never block on a
        # full pipe that nobody reads.
        self._stdout_path = workdir / "stdout.log"
        self._stderr_path = workdir / "stderr.log"
        with self._stdout_path.open("wb") as out, self._stderr_path.open("wb") as err:
            # Fixed arguments; node comes from shutil.which.
            process = subprocess.Popen(  # noqa: S603
                [
                    node,
                    str(self._idp_dir / "server.mjs"),
                    "--config",
                    str(config_path),
                    "--exit-with-stdin",
                ],
                cwd=self._idp_dir,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
            )
        self._process = process
        try:
            self._wait_until_ready(process)
        except BaseException:
            self.stop()
            raise
        # Node has read the file by now; removing it means a hard kill of this process
        # leaves no client secrets or passwords behind in the temporary directory.
        config_path.unlink(missing_ok=True)
        logger.info("local OpenID provider listening at %s", self._issuer)
        return self

    def stop(self) -> None:
        """Stop node (politely, then firmly) and remove the temporary config."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self._stdout_path = self._stderr_path = None
        self._http.close()
        self._http = requests.Session()
        self._issuer = self._port = None

    @property
    def running(self) -> bool:
        """Whether the node process is alive."""
        return self._process is not None and self._process.poll() is None

    def _config(self) -> dict[str, Any]:
        return {
            "port": self._requested_port or 0,
            "issuer": self._issuer_override,
            "clients": [c.to_config() for c in self.clients],
            "users": [u.to_config() for u in self.users],
            "test_hooks": self.test_hooks,
        }

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self._startup_timeout
        ready: dict[str, Any] | None = None
        while ready is None:
            ready = self._read_ready_line()
            if ready is None:
                self._check_alive_before(process, deadline, "to print its address")
                time.sleep(0.05)
        self._port = int(ready["port"])
        self._issuer = str(ready["issuer"])
        # The ready line comes once the socket listens; discovery proves the provider is
        # wired up as well.
        url = f"http://127.0.0.1:{self._port}/.well-known/openid-configuration"
        while True:
            try:
                if self._http.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            self._check_alive_before(process, deadline, "to answer discovery")
            time.sleep(0.05)

    def _read_ready_line(self) -> dict[str, Any] | None:
        if self._stdout_path is None:
            return None
        first = self._stdout_path.read_bytes().split(b"\n", 1)
        if len(first) < 2:
            return None
        try:
            ready = json.loads(first[0])
        except ValueError as exc:
            raise LocalProviderError(
                f"unexpected output from the local provider: {first[0][:200]!r}"
            ) from exc
        if not isinstance(ready, dict):
            raise LocalProviderError(f"unexpected output from the local provider: {ready!r}")
        return ready

    def _check_alive_before(
        self, process: subprocess.Popen[bytes], deadline: float, waiting_for: str
    ) -> None:
        code = process.poll()
        if code is not None:
            raise LocalProviderError(
                f"the local OpenID provider exited with status {code} before it was ready; "
                f"node stderr:\n{self.stderr_tail()}"
            )
        if time.monotonic() > deadline:
            raise LocalProviderError(
                f"the local OpenID provider took longer than {self._startup_timeout:.0f}s "
                f"{waiting_for}; node stderr:\n{self.stderr_tail()}"
            )

    def stderr_tail(self) -> str:
        """The last few kilobytes node wrote to stderr, for error messages."""
        if self._stderr_path is None or not self._stderr_path.exists():
            return ""
        data = self._stderr_path.read_bytes()
        return data[-_STDERR_TAIL_CHARS:].decode("utf-8", "replace")

    # ------------------------------------------------------------------ addresses

    @property
    def issuer(self) -> str:
        """The issuer identifier, e.g. ``http://127.0.0.1:PORT``."""
        if self._issuer is None:
            raise LocalProviderError("the local provider is not running")
        return self._issuer

    @property
    def port(self) -> int:
        """The loopback port the provider listens on."""
        if self._port is None:
            raise LocalProviderError("the local provider is not running")
        return self._port

    @property
    def base_url(self) -> str:
        """Where this process reaches the provider, whatever issuer it advertises."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        """The OpenID Connect discovery document of this issuer."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """Fetch the discovery document."""
        response = self._http.get(f"{self.base_url}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    # ------------------------------------------------------------------ test hooks

    def set_mode(self, mode: TamperMode | str) -> None:
        """Make the provider misbehave as ``mode`` says until the next call (test hooks only)."""
        self._hook("/__test__/mode", {"mode": str(TamperMode(mode))})

    def reset_mode(self) -> None:
        """Return to normal, honest behaviour (test hooks only)."""
        self.set_mode(TamperMode.NONE)

    def set_redirect_uris(self, client_id: str, redirect_uris: Sequence[str]) -> None:
        """Replace the redirect URIs registered for ``client_id`` (test hooks only)."""
        self._hook(
            "/__test__/clients",
            {"client_id": client_id, "redirect_uris": list(redirect_uris)},
        )

    def restore_redirect_uris(self) -> None:
        """Put back the redirect URIs every client was started with (test hooks only)."""
        for client in self.clients:
            self.set_redirect_uris(client.client_id, client.redirect_uris)

    def _hook(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.test_hooks:
            raise LocalProviderError("test hooks are disabled for this provider")
        response = self._http.post(f"{self.base_url}{path}", json=payload, timeout=10)
        if response.status_code != 200:
            raise LocalProviderError(
                f"test hook {path} refused {payload!r}: {response.status_code} {response.text}"
            )
        data: dict[str, Any] = response.json()
        return data
