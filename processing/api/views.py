"""The POS API views (pos-api.md): authenticate the terminal, validate, call one service, answer.

Every error, here or in the services, leaves through ``processing.api.problems`` as an RFC 9457
problem; no view writes through the ORM.
"""

from __future__ import annotations

from typing import cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.mediatypes import media_type_matches
from rest_framework.views import APIView

from crm.errors import CustomerExists
from crm.selectors import customer_get_by_phone
from crm.services.profile import profile_answer_json, profile_answers_get
from loyalty.errors import (
    CardNotFound,
    CertificateNotFound,
    CertificateStateInvalid,
    CouponNotFound,
    CustomerNotFound,
    LoyaltyError,
    ReceiptNotFound,
)
from loyalty.models import Terminal
from loyalty.selectors import card_get, card_summary, customer_summary
from loyalty.services.cards import customer_register
from loyalty.services.certificates import (
    certificate_accepted,
    certificate_activate,
    certificate_find,
    certificate_status,
)
from processing.api import examples
from processing.api import serializers as s
from processing.api.answers import offline_answer, purchase_answer
from processing.api.auth import TerminalKeyAuthentication
from processing.api.bodies import PosJSONRenderer, PosTextJSONParser, unstorable_text_errors
from processing.api.problems import (
    PROBLEM_CONTENT_TYPE,
    EmptyBody,
    InvalidRequest,
    problem_response,
    validation_errors,
)
from processing.api.throttles import TerminalRateThrottle
from processing.calculate import purchase_calculate
from processing.confirm import purchase_confirm
from processing.events import event_record
from processing.offline import purchases_offline
from processing.refund import purchase_cancel, purchase_get, purchase_refund
from processing.sale import PurchaseRequest
from promotions.coupons import coupon_find, coupon_status
from promotions.rules.snapshot import snapshot_get

# --- Plumbing -------------------------------------------------------------------------------


class PosJSONParser(PosTextJSONParser):
    """DRF's JSON parser, which also refuses JSON nested too deeply for the decoder and text
    that cannot be stored (NUL, unpaired surrogates: ``processing.api.bodies``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc


class PosContentNegotiation(BaseContentNegotiation):
    """JSON only: a body without a Content-Type is read as JSON; every answer is JSON."""

    def select_parser(self, request, parsers):
        if not request.content_type:
            return parsers[0]
        for parser in parsers:
            if media_type_matches(parser.media_type, request.content_type):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _max_receipt_lines(terminal: Terminal) -> int:
    programme = snapshot_get().programme_for(terminal.store.partner_id)
    return programme.max_receipt_lines if programme is not None else s.DEFAULT_MAX_LINES


def _content_length(request: Request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _lookup_key(value: str, max_length: int) -> bool:
    """Whether a path segment can be an identifier at all (no NUL byte, not too long)."""
    return 0 < len(value) <= max_length and "\x00" not in value


def _certificate_code(code: str) -> str:
    """The certificate code of a path; one with a NUL names no certificate (PostgreSQL cannot
    even compare it)."""
    if "\x00" in code:
        raise CertificateNotFound(code=code[: s.CERTIFICATE_MAX_LENGTH])
    return code


class PosApi(APIView):
    """Base of every POS view: terminal key, per-terminal throttle, JSON in and out."""

    authentication_classes = [TerminalKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [TerminalRateThrottle]
    parser_classes = [PosJSONParser]
    renderer_classes = [PosJSONRenderer]
    content_negotiation_class = PosContentNegotiation
    throttle_scope = "purchase"

    @property
    def terminal(self) -> Terminal:
        return cast(Terminal, self.request.auth)  # what TerminalKeyAuthentication gives

    def serializer_context(self) -> dict:
        return {"request": self.request, "max_lines": _max_receipt_lines(self.terminal)}

    def body[S: serializers.Serializer](self, serializer_class: type[S]) -> S:
        """The validated body; an empty body and an invalid one are 400 problems."""
        if _content_length(self.request) == 0:
            raise EmptyBody()
        serializer = serializer_class(data=self.request.data, context=self.serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer

    def purchase_body(self, *, calculate: bool) -> tuple[PurchaseRequest, bool]:
        """The purchase request and its ``hold``: the common body is read without DRF's
        serializer (``purchase_fast``), anything else goes through it."""
        if _content_length(self.request) == 0:
            raise EmptyBody()
        fast = s.purchase_fast(
            self.request.data, _max_receipt_lines(self.terminal), calculate=calculate
        )
        if fast is not None:
            return fast
        serializer_class = s.PurchaseCalculateSerializer if calculate else s.PurchaseSerializer
        body = self.body(serializer_class)
        return body.purchase_request(), body.validated_data.get("hold", False)


# --- OpenAPI helpers ------------------------------------------------------------------------

PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON, empty body, invalid fields (`errors` names them), too many lines.",
    401: "`invalid_api_key`: missing, unknown, revoked or expired key.",
    403: "`terminal_inactive` or `store_closed`.",
    404: "Not found.",
    409: "Conflict.",
    413: "`body_too_large`: more than 1 MiB.",
    414: "`uri_too_long`: a URL (path and query) longer than 4096 bytes.",
    422: "The request is well-formed but cannot be carried out.",
    429: "`throttled`: per-terminal rate limit; retry after `Retry-After` seconds.",
    503: "`service_unavailable`: the database is down; retry after `Retry-After` seconds.",
}
COMMON = (401, 403, 414, 429, 503)
BODY = (400, 413)


def problems_schema(*statuses: int, **descriptions: str) -> dict:
    """The OpenAPI responses of an operation's problems (shared with the other apps' APIs)."""
    responses = {}
    for code in statuses:
        responses[(code, PROBLEM_CONTENT_TYPE)] = OpenApiResponse(
            response=s.ProblemSerializer,
            description=descriptions.get(f"d{code}", PROBLEM_DESCRIPTIONS[code]),
        )
    return responses


def ok_schema(serializer, description: str, code: int = 200) -> dict:
    """The OpenAPI response of an operation's success."""
    return {(code, "application/json"): OpenApiResponse(serializer, description=description)}


RECEIPT_ID = OpenApiParameter(
    "receipt_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The register's receipt id."
)
CARD_NUMBER = OpenApiParameter(
    "number", OpenApiTypes.STR, OpenApiParameter.PATH, description="The card number."
)
CERTIFICATE_CODE = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="The certificate's code."
)
COUPON_CODE = OpenApiParameter(
    "code", OpenApiTypes.STR, OpenApiParameter.PATH, description="The coupon code."
)
RECEIPT_NOT_FOUND = (
    "`receipt_not_found`: another partner's receipt, or an id several registers of this "
    "partner used. Waiting changes nothing: do not retry."
)
CARD_ERRORS = (
    "`card_not_found` (404), `card_blocked` / `card_inactive` (409), "
    "`customer_not_found` for an unknown phone (404)."
)


# --- Purchases ------------------------------------------------------------------------------


class PurchaseCalculateApi(PosApi):
    @extend_schema(
        operation_id="purchase_calculate",
        examples=examples.PURCHASE_CALCULATE,
        tags=["purchases"],
        summary="Preview a receipt",
        description="Discounts, points that may be spent and would be earned, promotions and "
        'coupons applied, messages for the cashier. Nothing is written, except with `"hold": '
        "true`, which reserves the points to spend for this `receipt_id`.",
        request=s.PurchaseCalculateSerializer,
        responses={
            **ok_schema(s.PurchaseCalculateResultSerializer, "The calculated receipt."),
            **problems_schema(*BODY, 404, 409, 422, *COMMON, d404=CARD_ERRORS, d409=CARD_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        request_, hold = self.purchase_body(calculate=True)
        return Response(purchase_answer(purchase_calculate(self.terminal, request_, hold=hold)))


class PurchaseConfirmApi(PosApi):
    @extend_schema(
        operation_id="purchase_confirm",
        examples=examples.PURCHASE_CONFIRM,
        tags=["purchases"],
        summary="Commit a purchase",
        description="Recalculates on the server and commits, once per `receipt_id`. The same id "
        "with the same body answers the original result (200) and moves nothing; another body "
        "is 409 `receipt_conflict`; a duplicate being processed right now is 409 "
        "`request_in_progress` with `Retry-After`.",
        request=s.PurchaseSerializer,
        responses={
            **ok_schema(
                s.PurchaseResultSerializer, "The confirmed purchase (first time or replay)."
            ),
            **problems_schema(*BODY, 404, 409, 422, *COMMON, d404=CARD_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        request_, _hold = self.purchase_body(calculate=False)
        return Response(purchase_answer(purchase_confirm(self.terminal, request_)))


class PurchaseCancelApi(PosApi):
    @extend_schema(
        operation_id="purchase_cancel",
        examples=examples.PURCHASE_CANCEL,
        tags=["purchases"],
        summary="Void a purchase",
        description="Reverses every movement the purchase made and its refunds have not, or "
        "releases the hold of a receipt that was only calculated. Safe to repeat. 409 "
        "`receipt_not_yet_known` when neither exists yet (retry later); 404 "
        "`receipt_not_found` for another partner's receipt (do not retry); 409 "
        "`receipt_not_reversible`.",
        request=s.PurchaseCancelSerializer,
        responses={
            **ok_schema(s.PurchaseCancelResultSerializer, "The cancellation."),
            **problems_schema(*BODY, 404, 409, *COMMON, d404=RECEIPT_NOT_FOUND),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(s.PurchaseCancelSerializer)
        return Response(purchase_cancel(self.terminal, body.validated_data["receipt_id"]))


class PurchaseRefundApi(PosApi):
    @extend_schema(
        operation_id="purchase_refund",
        examples=examples.PURCHASE_REFUND,
        tags=["purchases"],
        summary="Return lines of a purchase",
        description="Proportional reversal of what the returned units earned and were paid "
        "with, once per `refund_id`. Without `lines`, everything not yet returned. 422 "
        "`unknown_line` / `refund_exceeds_purchase`; 409 `refund_conflict`, "
        "`receipt_not_yet_known` (retry later), `receipt_cancelled`, `nothing_to_refund`, "
        "`receipt_not_reversible`; 404 `receipt_not_found` for another partner's receipt.",
        request=s.PurchaseRefundSerializer,
        responses={
            **ok_schema(s.RefundResultSerializer, "The refund (first time or replay)."),
            **problems_schema(*BODY, 404, 409, 422, *COMMON, d404=RECEIPT_NOT_FOUND),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(s.PurchaseRefundSerializer)
        data = body.validated_data
        result = purchase_refund(
            self.terminal, data["receipt_id"], data["refund_id"], body.refund_lines()
        )
        return Response(result)


class PurchasesOfflineApi(PosApi):
    throttle_scope = "offline"
    unstorable_text_items = "receipts"  # checked per item below: a bad one stops no other

    @extend_schema(
        operation_id="purchases_offline",
        examples=examples.PURCHASES_OFFLINE,
        tags=["purchases"],
        summary="Upload receipts sold offline",
        description="Confirm bodies in sale order, at most 500. Each item is processed once and "
        "on its own: an invalid or failing item is answered with its error and does not stop "
        "the others. Uploading the same batch again is safe.",
        request=s.PurchasesOfflineSerializer,
        responses={
            **ok_schema(s.PurchasesOfflineResultSerializer, "One result per item."),
            **problems_schema(*BODY, *COMMON),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(s.PurchasesOfflineSerializer)
        context = self.serializer_context()
        items: list[PurchaseRequest | LoyaltyError] = []
        for raw in body.validated_data["receipts"]:
            item = s.PurchaseSerializer(data=raw, context=context)
            if unstorable := unstorable_text_errors(raw):
                items.append(InvalidRequest(unstorable, receipt_id=_echoed_id(raw)))
            elif item.is_valid():
                items.append(item.purchase_request())
            else:
                code, errors = validation_errors(item.errors)
                items.append(InvalidRequest(errors, code=code, receipt_id=_echoed_id(raw)))
        return Response({"results": offline_answer(purchases_offline(self.terminal, items))})


def _echoed_id(raw) -> str | None:
    receipt_id = raw.get("receipt_id") if isinstance(raw, dict) else None
    if isinstance(receipt_id, str) and 0 < len(receipt_id) <= s.ID_MAX_LENGTH:
        return receipt_id
    return None


class PurchaseGetApi(PosApi):
    @extend_schema(
        operation_id="purchase_get",
        examples=examples.PURCHASE_GET,
        tags=["purchases"],
        summary="Read a committed purchase",
        description="The purchase as confirm answered it, with its current status and refunds. "
        "Ask this after a timeout before sending anything else. Another partner's receipt is "
        "404 `receipt_not_found`.",
        parameters=[RECEIPT_ID],
        responses={
            **ok_schema(s.PurchaseRecordSerializer, "The purchase."),
            **problems_schema(404, *COMMON, d404="`receipt_not_found`."),
        },
    )
    def get(self, request: Request, receipt_id: str) -> Response:
        if not _lookup_key(receipt_id, s.ID_MAX_LENGTH):
            raise ReceiptNotFound(receipt_id=receipt_id[: s.ID_MAX_LENGTH])
        return Response(purchase_get(self.terminal, receipt_id))


# --- Cards, customers, coupons --------------------------------------------------------------


class CardGetApi(PosApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="card_get",
        examples=examples.CARD_GET,
        tags=["cards"],
        summary="Card status, customer and balances",
        description="The card's status and type, its holder (public id, first name, tier, "
        "referral code) and, per currency, the active, pending and held points and what "
        "expires within 30 days. A card that belongs to nobody has `customer` null.",
        parameters=[CARD_NUMBER],
        responses={
            **ok_schema(s.CardSummarySerializer, "The card summary."),
            **problems_schema(404, *COMMON, d404="`card_not_found`."),
        },
    )
    def get(self, request: Request, number: str) -> Response:
        card = card_get(number) if _lookup_key(number, s.CARD_MAX_LENGTH) else None
        if card is None:
            raise CardNotFound(card=number[: s.CARD_MAX_LENGTH])
        return Response(card_summary(card))


class CustomerLookupApi(PosApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="customer_lookup",
        examples=examples.CUSTOMER_LOOKUP,
        tags=["customers"],
        summary="Find a customer by phone",
        description="The card summary of the customer who has this phone, in any notation.",
        parameters=[s.CustomerLookupSerializer],
        responses={
            **ok_schema(s.CardSummarySerializer, "The customer's summary."),
            **problems_schema(
                400,
                404,
                *COMMON,
                d400="`invalid_request`: no phone, or not a phone number.",
                d404="`customer_not_found`.",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        query = s.CustomerLookupSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        customer = customer_get_by_phone(query.validated_data["phone"])
        if customer is None:
            raise CustomerNotFound()
        return Response(customer_summary(customer))


class CustomerRegisterApi(PosApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="customer_register",
        examples=examples.CUSTOMER_REGISTER,
        tags=["customers"],
        summary="Register a customer at the till",
        description="Creates the customer with their consents and their answers to the "
        "questionnaire (`profile`: the questions of the admin, listed here as they are now), "
        "and binds the `card` handed over, or issues a virtual card when none is named. A phone "
        "that already has a customer is 409 `customer_exists`, whose body also carries that "
        "customer's summary.",
        request=s.CustomerRegisterSerializer,
        responses={
            **ok_schema(
                s.RegisteredSummarySerializer,
                "The new customer's summary and the answers stored.",
                code=201,
            ),
            **problems_schema(*BODY, 404, 422, *COMMON, d404="`card_not_found`."),
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                s.CustomerExistsProblemSerializer,
                description="`customer_exists` (with the summary), `email_taken`, "
                "`card_bound`, `card_blocked`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(s.CustomerRegisterSerializer)
        try:
            registration = customer_register(terminal=self.terminal, **body.service_arguments())
        except CustomerExists as exc:
            return problem_response(
                409,
                exc.code,
                exc.detail,
                title=CustomerExists.message,
                extra=customer_summary(exc.customer),
            )
        answer = customer_summary(registration.customer, registration.card)
        answer["customer"]["profile"] = {
            code: profile_answer_json(value)
            for code, value in profile_answers_get(registration.customer).items()
        }
        return Response(answer, status=status.HTTP_201_CREATED)


class EventApi(PosApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="event_report",
        examples=examples.EVENT_REPORT,
        tags=["events"],
        summary="Report an event of a customer's life",
        description="Records an event of a type defined in the admin (a review written, a "
        "group joined...) once per terminal and `event_id`: it steps the counters of events "
        "of its type and starts the promotions waiting for it, whose rewards the answer "
        "lists. A retry with the same body gets 200 and the same answer; another body under "
        "the same `event_id` is 409 `event_conflict`.",
        request=s.EventSerializer,
        responses={
            **ok_schema(s.EventResultSerializer, "Recorded now.", code=201),
            **ok_schema(s.EventResultSerializer, "Recorded before: the same answer again."),
            **problems_schema(
                *BODY,
                404,
                409,
                422,
                *COMMON,
                d404="`card_not_found`, `customer_not_found`.",
                d409="`event_conflict`, `card_blocked`.",
                d422="`unknown_event_type`, `datetime_out_of_window`.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.body(s.EventSerializer)
        result, created = event_record(self.terminal, **body.service_arguments())
        return Response(result, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CertificateGetApi(PosApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="certificate_get",
        examples=examples.CERTIFICATE_GET,
        tags=["certificates"],
        summary="Gift certificate status",
        description="A gift card's or certificate's status (`new`: not sold yet, `active`, "
        "`used`, `expired`, `blocked`), nominal, balance, what it can pay now (`available`: "
        "the balance less what other receipts hold), its end and whether this terminal's "
        "partner accepts it. Codes are read in any case, spaces and dashes ignored. A code of "
        "another programme is 404.",
        parameters=[CERTIFICATE_CODE],
        responses={
            **ok_schema(s.CertificateStatusSerializer, "The certificate's status."),
            **problems_schema(404, *COMMON, d404="`certificate_not_found`."),
        },
    )
    def get(self, request: Request, code: str) -> Response:
        programme = snapshot_get().programme_for(self.terminal.store.partner_id)
        certificate = certificate_find(_certificate_code(code), programme.id if programme else None)
        return Response(certificate_status(certificate, self.terminal.store.partner_id))


class CertificateActivateApi(PosApi):
    @extend_schema(
        operation_id="certificate_activate",
        examples=examples.CERTIFICATE_ACTIVATE,
        tags=["certificates"],
        summary="Sell (activate) a gift certificate",
        description="The register sold a certificate: it receives its nominal and its end. "
        "Safe to retry: activating an active certificate answers its status again. A used, "
        "expired or blocked one is 409 `certificate_state_invalid`. Sell the certificate as a "
        "receipt line of a product marked *gift card or certificate*: that line earns nothing.",
        parameters=[CERTIFICATE_CODE],
        request=None,
        responses={
            **ok_schema(s.CertificateStatusSerializer, "The certificate, active."),
            **problems_schema(404, 409, *COMMON, d404="`certificate_not_found`."),
        },
    )
    def post(self, request: Request, code: str) -> Response:
        programme = snapshot_get().programme_for(self.terminal.store.partner_id)
        certificate = certificate_find(_certificate_code(code), programme.id if programme else None)
        if not certificate_accepted(certificate.series, self.terminal.store.partner_id):
            raise CertificateStateInvalid(status="not_accepted_here")
        certificate = certificate_activate(certificate, terminal=self.terminal)
        return Response(certificate_status(certificate, self.terminal.store.partner_id))


class CouponGetApi(PosApi):
    throttle_scope = "lookup"

    @extend_schema(
        operation_id="coupon_get",
        examples=examples.COUPON_GET,
        tags=["coupons"],
        summary="Coupon status",
        description="Whether a coupon code can be used now (`valid`), or why not: `used`, "
        "`expired`, `not_yet_active`, `withdrawn`; its series, validity and uses left. Codes "
        "are read in any case, spaces ignored. A code of another programme is 404.",
        parameters=[COUPON_CODE],
        responses={
            **ok_schema(s.CouponStatusSerializer, "The coupon's status."),
            **problems_schema(404, *COMMON, d404="`coupon_not_found`."),
        },
    )
    def get(self, request: Request, code: str) -> Response:
        programme = snapshot_get().programme_for(self.terminal.store.partner_id)
        if "\x00" in code:  # no code has one, and PostgreSQL cannot even compare it
            raise CouponNotFound(coupon=code[: s.COUPON_MAX_LENGTH])
        coupon = coupon_find(code[: s.COUPON_MAX_LENGTH], programme.id if programme else None)
        if coupon is None:
            raise CouponNotFound(coupon=code[: s.COUPON_MAX_LENGTH])
        return Response(coupon_status(coupon).as_json())
