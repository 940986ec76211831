"""What families see of events and photos (built on :mod:`app.photos`)."""
