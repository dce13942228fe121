from django.urls import path

from lrs.api.about import AboutView
from lrs.api.statements import StatementsView

urlpatterns = [
    path("statements", StatementsView.as_view(), name="xapi-statements"),
    path("about", AboutView.as_view(), name="xapi-about"),
]
