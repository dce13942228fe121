"""Bench-only settings: the LRS settings plus the floor view's URL (``bench.urls``)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
