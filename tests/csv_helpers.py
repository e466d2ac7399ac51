"""Reading the CSV exports back in tests, as a spreadsheet or a script would."""

from __future__ import annotations

import csv
import io


def read_csv(response) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows as dicts) of a streamed CSV download; checks what every export shares:
    streamed, ``text/csv`` in UTF-8 without a BOM, an attachment, CRLF line ends."""
    assert response.status_code == 200, (response.status_code, getattr(response, "content", b""))
    assert response.streaming, "an export is streamed, never built whole"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.endswith('.csv"')
    raw = b"".join(response.streaming_content)
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert text.endswith("\r\n")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]
