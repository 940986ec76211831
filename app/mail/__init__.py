"""Outgoing e-mail: queued in the database with the action that causes it, sent after."""
