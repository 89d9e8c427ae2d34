"""Tenancy: the registry in `public`, the tenant scope, tenant creation and migration."""
