"""Every actor module, imported so that a worker process knows all the actors."""

from app.identity import tasks as identity_tasks
from app.signup import tasks as signup_tasks

__all__ = ["identity_tasks", "signup_tasks"]
