"""Wisp Cloud: the multi-tenant cloud for wireless internet service providers."""

import os

# Piccolo finds its engine through this module path (the table classes and migrations use it).
os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")
