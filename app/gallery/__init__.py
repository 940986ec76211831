"""Events and their photos, and what families may see of them."""
