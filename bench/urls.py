"""The LRS's URLs plus the Django floor view, served side by side by the same gunicorn."""

from django.urls import path

from bench.floor_view import floor_insert
from config.urls import urlpatterns as lrs_urlpatterns

urlpatterns = [
    *lrs_urlpatterns,
    path("bench/floor", floor_insert, name="bench-floor"),
]
