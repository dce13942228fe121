from django.urls import path

from lrs.api.about import AboutView
from lrs.api.activities import ActivitiesView
from lrs.api.agents import AgentsView
from lrs.api.documents import ActivityProfileView, AgentProfileView, StateView
from lrs.api.statements import StatementsView

urlpatterns = [
    path("statements", StatementsView.as_view(), name="xapi-statements"),
    path("about", AboutView.as_view(), name="xapi-about"),
    path("activities/state", StateView.as_view(), name="xapi-activities-state"),
    path("activities/profile", ActivityProfileView.as_view(), name="xapi-activities-profile"),
    path("activities", ActivitiesView.as_view(), name="xapi-activities"),
    path("agents/profile", AgentProfileView.as_view(), name="xapi-agents-profile"),
    path("agents", AgentsView.as_view(), name="xapi-agents"),
]
