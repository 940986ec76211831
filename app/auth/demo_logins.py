"""Logins of the demo families at the local OpenID provider (development only).

Passwords are derived from this installation's Flask secret, so ``photogate demo`` (which
prints them) and ``photogate serve`` (which gives them to the provider) agree without
writing them anywhere, and no two installations share them.
"""

from __future__ import annotations

import hashlib
import hmac

from app.auth.local_provider import UserSpec

#: (username, display name); the first three match the demo families, the last has none yet.
DEMO_GUARDIANS = (
    ("tanaka", "Tanaka Yoko"),
    ("suzuki", "Suzuki Ken"),
    ("smith", "Olivia Smith"),
    ("guest", "New Parent"),
)


def demo_users(flask_secret: bytes) -> list[UserSpec]:
    users = []
    for username, name in DEMO_GUARDIANS:
        digest = hmac.new(flask_secret, f"demo-login:{username}".encode(), hashlib.sha256)
        password = "-".join(digest.hexdigest()[i : i + 4] for i in range(0, 16, 4))
        users.append(
            UserSpec(
                sub=f"demo-{username}",
                username=username,
                password=password,
                email=f"{username}@families.demo.photogate.test",
                name=name,
            )
        )
    return users
