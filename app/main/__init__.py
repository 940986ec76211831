"""Home page, language choice and health probes."""
