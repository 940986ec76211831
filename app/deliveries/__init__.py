"""Deliveries: each marked copy of a photo that leaves the server, named by its mark."""
