"""Families on the school roster: roster import, claim-once invitations, guardians."""
