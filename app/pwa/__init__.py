"""Serving the PWA (`pwa/dist`) and its per-tenant manifest and icons on every host."""
