"""Sign-in for guardians (OpenID Connect) and staff (password + TOTP)."""
