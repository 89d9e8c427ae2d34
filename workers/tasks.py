"""Every actor module, imported so that a worker process knows all the actors."""

from app.billing import jobs as billing_jobs
from app.billing import tasks as billing_tasks
from app.gateways import tasks as gateway_tasks
from app.identity import tasks as identity_tasks
from app.signup import tasks as signup_tasks
from app.subscribers import tasks as subscriber_tasks

__all__ = [
    "billing_jobs",
    "billing_tasks",
    "gateway_tasks",
    "identity_tasks",
    "signup_tasks",
    "subscriber_tasks",
]
