"""Helpers every test package shares: CSRF tokens, signing in, the test clock."""
