"""The requests one attempt of a Slack bot's delivery may make, counted as it makes them.

``SlackAdapter.requests_per_send`` is what the delivery's claim and the room left for its send
were sized for (``adapters.delivery.drain.claim_seconds``): a send that made more could outlive
its claim, and the sweep hand the delivery to another worker, which finds nothing yet and posts
too. So the look-ups stop one short of it, the last request being the post's; what they could not
do is done by a later attempt (a channel listing goes on where it stopped: ``channels``).

Which kind of later attempt: one that runs again without counting (``DeliveryBusy``) when this one
spent look-ups on a channel listing, kept for the next (``listed``): the next lists less or
nothing and gets further, whether its budget ran out within the listing or after it, on the
history. One whose look-ups went on the history alone is a failed attempt: the next would read the
same history, and only attempts counted give up a delivery that can never look far enough.
"""

from __future__ import annotations

from adapters.base import AdapterError


class OverBudget(AdapterError):
    """This attempt has made every look-up its budget allows: nothing is posted without the
    look-up, and the delivery is tried again later (a listing goes on: ``channels``)."""


class Budget:
    """The Web API requests an attempt may still make, the post's own kept back."""

    def __init__(self, requests: int) -> None:
        self.allowed = requests
        self.left = requests
        self.listed = False  # whether a look-up went on a page of the channel listing

    def spend(self, method: str) -> None:
        """Count one look-up (``method``), or raise ``OverBudget`` when only the post's is left."""
        if self.left <= 1:
            raise OverBudget(
                f"{method} would be a request more than the {self.allowed} one attempt may make (a "
                "history longer than they read, or a listing); not posted"
            )
        self.left -= 1
        self.listed = self.listed or method == "conversations.list"
