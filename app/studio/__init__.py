"""The photographers' studio: assigned events, albums, uploads, processing, school controls."""
