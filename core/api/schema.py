"""OpenAPI helpers: the error envelope as a component, error responses per operation, and
the hooks that keep the schema to the documented paths.

Every operation can answer 400, 401, 403, 404, 406, 429 and 500 (415 when it takes a body)
in the one envelope; the post-processing hook adds those so that views only declare the
errors specific to them (409, 412...).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: not_found, stale_version…")
    message = serializers.CharField(help_text="For humans.")
    details = serializers.DictField(
        help_text="Field errors (field name → list of messages, camelCase) and other "
        "specifics, e.g. currentVersion for a stale balance."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


ERROR_COMPONENT = "Error"

_DESCRIPTIONS = {
    400: "Invalid input; details name the fields.",
    401: "Missing, invalid or revoked API key.",
    403: "The role does not allow this, or the key is read-only.",
    404: "No such resource.",
    405: "Method not allowed.",
    406: "Only JSON can be returned.",
    409: "Conflicts with the resource's current state.",
    412: "The If-Match version is stale.",
    415: "The body must be JSON.",
    422: "Well-formed, but the operation cannot be carried out.",
    428: "A precondition header is required.",
    429: "Too many requests; see Retry-After.",
    500: "Unexpected error (logged).",
    503: "A service the operation needs is unavailable; nothing was done. See Retry-After.",
}
_COMMON = (400, 401, 403, 404, 406, 429, 500)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=...)``."""
    return {
        code: OpenApiResponse(
            response=ErrorSerializer, description=_DESCRIPTIONS.get(code, "Error.")
        )
        for code in codes
    }


def path_param(name: str, description: str, pattern: str | None = None) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        str,
        OpenApiParameter.PATH,
        description=description,
        pattern=pattern,
    )


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='The balance version the change is based on, as sent in ETag ("3"). '
    "A stale version is refused with 412 and changes nothing.",
)
SERVICE_ID = path_param("serviceId", "The service's id, e.g. srv_10293.")
CURRENCY = path_param(
    "currency",
    "ISO 4217 code or registered crypto asset (USDT_TRC20).",
    pattern=r"^[A-Z][A-Z0-9_]{2,15}$",
)


def drop_trailing_slash_twins(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """PREPROCESSING_HOOK: every route answers with and without a trailing slash; document
    the slash-less form only (the one the published docs use)."""
    plain = {(path, method) for path, _regex, method, _cb in endpoints}
    return [
        (path, regex, method, cb)
        for path, regex, method, cb in endpoints
        if not (path.endswith("/") and (path.rstrip("/"), method) in plain)
    ]


def add_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: the errors any operation can answer, in the envelope."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        ERROR_COMPONENT,
        {
            "type": "object",
            "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
            "required": ["error"],
        },
    )
    schemas.setdefault(
        "ErrorBody",
        {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "message", "details"],
        },
    )
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            codes = list(_COMMON) + ([415] if "requestBody" in operation else [])
            for code in codes:
                entry = responses.setdefault(
                    str(code),
                    {"description": _DESCRIPTIONS[code], "content": {}},
                )
                entry.setdefault("content", {}).setdefault("application/json", {"schema": ref})
            retry = responses["429"].setdefault("headers", {})
            retry.setdefault(
                "Retry-After",
                {"schema": {"type": "integer"}, "description": "Seconds to wait."},
            )
    return result


@cache
def paginated(serializer_class: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page envelope of ``core.api.pagination.ApiPagination`` around ``serializer_class``
    (APIViews do not get it from drf-spectacular automatically)."""
    name = getattr(serializer_class, "_spectacular_annotation", {}).get(
        "component_name"
    ) or serializer_class.__name__.removesuffix("Out").removesuffix("Serializer")
    return type(
        f"Paginated{name}List",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )


@cache
def keyset_paginated(
    serializer_class: type[serializers.Serializer],
) -> type[serializers.Serializer]:
    """The keyset page envelope (``core.api.pagination.keyset_response``) around
    ``serializer_class``."""
    name = serializer_class.__name__.removesuffix("Out").removesuffix("Serializer")
    return type(
        f"Keyset{name}List",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(
                required=False,
                help_text="How many entries match the filters; on the first page only.",
            ),
            "next": serializers.URLField(
                allow_null=True, help_text="The next (older) page; null on the last one."
            ),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous (newer) page; null on the first one."
            ),
            "results": serializer_class(many=True),
        },
    )


CURSOR = OpenApiParameter(
    "cursor",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Opaque position from a `next` or `previous` link; a cursor that is not one "
    "of ours is refused with 400.",
)
PAGE_SIZE = OpenApiParameter(
    "pageSize", int, OpenApiParameter.QUERY, required=False, description="1 to 200 (default 50)."
)
DATE_FROM = OpenApiParameter(
    "from",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Entries at or after this moment (UTC): `2026-11-27` or `2026-11-27T18:00:00Z`.",
)
DATE_TO = OpenApiParameter(
    "to",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Entries at or before this moment (UTC); a bare date includes the whole day.",
)
CSV_FORMAT = OpenApiParameter(
    "format",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=["json", "csv"],
    description="`csv` (or `Accept: text/csv`): every matching entry as a streamed CSV file, "
    "filters applied, cursor ignored.",
)
