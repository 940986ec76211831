"""One home for photos: events, albums and photos, their blobs, processing, and the queries
studio, gallery, downloads and investigation share."""
