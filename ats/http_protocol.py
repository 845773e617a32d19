"""The HTTP/1.1 protocol ``ats run`` serves with: uvicorn's httptools protocol, with a cap on the URL it keeps.

httptools cannot split a URL longer than 65535 bytes (its offsets are 16-bit): uvicorn then answers a plain-text
``400 Invalid HTTP request received.`` before the app sees the request. Keeping only the first 65535 bytes lets the
request through to the app, whose limit on the request target (8 KiB, ``ats.api.edges``) answers it with a 414 in
the API's own error shape. Nothing past the cap is ever read by the app: such a request is refused whole.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: The longest URL httptools.parse_url accepts.
MAX_URL_BYTES = 65535


class HttpProtocol(HttpToolsProtocol):
    def on_url(self, url: bytes) -> None:
        room = MAX_URL_BYTES - len(self.url)
        if room > 0:
            super().on_url(url[:room])
