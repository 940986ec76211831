"""Leak investigations: a suspect image in, the delivery (or the photo) it came from out."""
