"""Gateways (access controllers): enrollment, credentials, desired-state sync with
acknowledgements, commands (link tests), telemetry and captive-portal decisions.

Staff routes live in `controllers.py` under `/api/v1`; the gateways' own protocol in
`gateway_controllers.py` under `/gateway/v1`, authenticated by each gateway's secret.
"""
