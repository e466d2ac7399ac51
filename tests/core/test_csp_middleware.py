"""core.middleware.ContentSecurityPolicyMiddleware builds the headers once, and sets exactly
what django-csp's own middleware sets, whatever the settings and the response say."""

from __future__ import annotations

import pytest
from csp.decorators import csp_exempt, csp_update
from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import ContentSecurityPolicyMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def answer(request):
    return HttpResponse("ok")


@csp_update({"img-src": "https://images.example"})
def updated(request):
    return HttpResponse("ok")


@csp_exempt()
def exempt(request):
    return HttpResponse("ok")


def nonce_used(request):
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")


def not_found(request):
    return HttpResponse("gone", status=404)


def headers(middleware_class, view, path="/services/"):
    request = RequestFactory().get(path)
    response = middleware_class(view)(request)
    return {name: response.get(name) for name in HEADERS}


@pytest.mark.parametrize("view", [answer, updated, exempt, nonce_used, not_found])
@pytest.mark.parametrize(
    "policies",
    [
        {},
        {"CONTENT_SECURITY_POLICY_REPORT_ONLY": {"DIRECTIVES": {"default-src": ["'none'"]}}},
        {"CONTENT_SECURITY_POLICY": {"DIRECTIVES": {"script-src": ["'self'"]}}},
        {
            "CONTENT_SECURITY_POLICY": {
                "EXCLUDE_URL_PREFIXES": ["/services/"],
                "DIRECTIVES": {"default-src": ["'self'"]},
            }
        },
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_the_headers_are_django_csps(settings, view, policies, debug):
    settings.DEBUG = debug
    for name, value in policies.items():
        setattr(settings, name, value)

    assert headers(ContentSecurityPolicyMiddleware, view) == headers(CSPMiddleware, view)


def test_a_changed_setting_applies_to_the_next_response(settings):
    middleware = ContentSecurityPolicyMiddleware(answer)
    first = middleware(RequestFactory().get("/"))["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}

    second = middleware(RequestFactory().get("/"))["Content-Security-Policy"]

    assert "script-src 'self'" in first
    assert second == "default-src 'none'"


def test_a_nonce_asked_for_after_the_header_is_written_is_an_error():
    request = RequestFactory().get("/")
    ContentSecurityPolicyMiddleware(answer)(request)

    with pytest.raises(Exception, match="not available after the CSP header"):
        str(request.csp_nonce)
