"""The worker's entry point (`dramatiq workers.tasks`): the broker and every domain's actors."""

from app.core.discovery import load_tasks
from app.core.jobs import broker

load_tasks()

__all__ = ["broker"]
