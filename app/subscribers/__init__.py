"""Subscribers, their status history, plan changes, portal accounts and CSV import."""
