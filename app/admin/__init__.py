"""The staff console: start page, staff accounts, the audit log."""
