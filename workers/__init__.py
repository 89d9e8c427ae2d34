"""Background work: the Dramatiq broker, the tenant middleware and the scheduler."""
