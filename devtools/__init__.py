"""Development-only tools: embedded services and process supervision for `wisp run` and
`make test`, the PWA build, translation catalogs. Not shipped in the production image."""
