"""Shared by the API tests (tests/config, tests/balances/api, tests/services/api)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

JSON = "application/json"


def body(response) -> Any:
    """The JSON body, numbers as Decimal (as a careful client would read amounts)."""
    assert response["Content-Type"].startswith(JSON), (response.status_code, response.content[:300])
    return json.loads(response.content, parse_float=Decimal)


def assert_error(response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is ``status`` with the error envelope (and ``code``); returns the error."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    data = body(response)
    assert set(data) == {"error"}, data
    error = data["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert b"Traceback" not in response.content and b"<html" not in response.content.lower()
    if code is not None:
        assert error["code"] == code, error
    return error


def send(client, method: str, url: str, data: Any = None, **kwargs: Any):
    """``client.<method>(url, data)`` with a JSON body; ``data`` may be a raw JSON string (to
    control how numbers are written)."""
    call = getattr(client, method.lower())
    if data is None:
        return call(url, **kwargs)
    text = data if isinstance(data, str) else json.dumps(data)
    return call(url, text, content_type=JSON, **kwargs)


# --- Endpoint x caller matrices ------------------------------------------------------------

CALLERS = ("anonymous", "bad_key", "read_only", "nobody", "viewer", "operator", "admin")
READERS = ("read_only", "viewer", "operator", "admin")  # read_only is an admin's key
OPERATORS = ("operator", "admin")
ADMINS = ("admin",)


def api_client_for(request, caller: str):
    """The API client of ``caller`` (a name from CALLERS), built from the conftest fixtures."""
    if caller == "nobody":
        from tests.conftest import api_client_with_key

        nobody = request.getfixturevalue("nobody")
        return api_client_with_key(request.getfixturevalue("make_api_key")(nobody))
    return request.getfixturevalue(f"{caller}_api")


def expected_outcome(caller: str, *, allowed: tuple[str, ...], writes: bool, success: int):
    """(status, error code or None) the matrix expects for ``caller``."""
    if caller in ("anonymous", "bad_key"):
        return 401, ("not_authenticated" if caller == "anonymous" else "authentication_failed")
    if caller == "read_only" and writes:
        return 403, "read_only_key"
    if caller in allowed:
        return success, None
    return 403, "permission_denied"


def check_matrix_response(response, caller: str, *, allowed, writes: bool, success: int):
    status, code = expected_outcome(caller, allowed=allowed, writes=writes, success=success)
    if code is None:
        assert response.status_code == status, (
            caller,
            response.status_code,
            response.content[:400],
        )
        if status != 204:
            body(response)  # JSON
        return
    assert_error(response, status, code)
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
