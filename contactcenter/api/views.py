"""``POST /api/v1/tickets``: the app and the website open tickets with a terminal's key."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from contactcenter.api import serializers as s
from contactcenter.services import ticket_submit
from processing.api import examples
from processing.api.views import BODY, COMMON, PosApi, ok_schema, problems_schema


class TicketSubmitApi(PosApi):
    throttle_scope = "lookup"

    def serializer_context(self) -> dict:
        return {"request": self.request}

    @extend_schema(
        operation_id="ticket_submit",
        examples=examples.TICKET_SUBMIT,
        tags=["tickets"],
        summary="Open a support ticket",
        description="A customer's request or complaint from the app or the website, linked "
        "to the customer (by card, else by phone) and, when named, the receipt it is about. "
        "The answer gives the ticket number and its SLA deadlines. With a `request_id`, a "
        "retry with the same body gets 200 and the same ticket; another body under the same "
        "id is 409 `ticket_conflict`.",
        request=s.TicketSubmitSerializer,
        responses={
            **ok_schema(s.TicketResultSerializer, "Opened now.", code=201),
            **ok_schema(s.TicketResultSerializer, "Opened before: the same ticket again."),
            **problems_schema(
                *BODY,
                404,
                409,
                422,
                *COMMON,
                d404="`card_not_found`, `receipt_not_found`.",
                d409="`ticket_conflict`.",
                d422="`category_unknown`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(s.TicketSubmitSerializer)
        answer, created = ticket_submit(self.terminal, **body.service_arguments())
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
