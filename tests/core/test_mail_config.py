"""Mail settings: an SMTP URL this portal speaks, and never a password inside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, Settings
from app.mail.services import FileTransport, SmtpTransport, is_address, masked, transport_for


def _settings(tmp_path: Path, **extra: str) -> Settings:
    return Settings.from_env({"PHOTOGATE_VAR_DIR": str(tmp_path), **extra})


def test_without_an_smtp_url_mail_is_written_under_var(tmp_path: Path) -> None:
    transport = transport_for(_settings(tmp_path))
    assert transport == FileTransport(tmp_path / "mail")


def test_an_smtp_url_with_starttls_a_user_and_a_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp_password"
    secret.write_text("s3cret\n")
    settings = _settings(
        tmp_path,
        PHOTOGATE_SMTP_URL="smtp+starttls://mailer%40school@mail.example.org",
        PHOTOGATE_SMTP_PASSWORD_FILE=str(secret),
        PHOTOGATE_MAIL_FROM="School photos <photos@example.org>",
    )
    assert transport_for(settings) == SmtpTransport(
        host="mail.example.org",
        port=587,
        mode="starttls",
        username="mailer@school",
        password="s3cret",
    )
    assert settings.mail_from == "School photos <photos@example.org>"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example.org", "smtp://"),
        ("smtp://", "smtp://"),
        ("smtps://user:hunter2@mail.example.org", "PHOTOGATE_SMTP_PASSWORD_FILE"),
    ],
)
def test_a_bad_smtp_url_stops_start_up_with_a_clear_message(
    tmp_path: Path, url: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        _settings(tmp_path, PHOTOGATE_SMTP_URL=url)


def test_roster_contacts_that_are_addresses_and_how_they_are_shown() -> None:
    assert is_address("family@example.org")
    for contact in ("090-1234-5678", "", None, "two@at@example.org", "a b@example.org"):
        assert not is_address(contact)
    assert masked("kumiko@example.org") == "k***@example.org"
