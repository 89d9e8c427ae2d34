"""The bottom layer: configuration, the database engine, problems, i18n, audit, jobs,
idempotency, pagination, time and money. It imports nothing from tenants, domains or web."""
