"""The bench's settings: the project's own (read from the environment bench/environment.py sets),
with the plain-Django baseline views added to the URLs."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
