"""Page-number pagination for every API list: ``?page=2&pageSize=100``.

The envelope is DRF's (``count``, ``next``, ``previous``, ``results``); ``pageSize`` is capped
so that no request can ask for an unbounded list.
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class ApiPagination(PageNumberPagination):
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "pageSize"
    max_page_size = MAX_PAGE_SIZE
    page_query_param = "page"
