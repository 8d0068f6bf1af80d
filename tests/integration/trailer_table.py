"""The request trailer table both protocols are held to (lb/http/trailers.c filters an HTTP/1.1
client's chunked trailer section and an HTTP/2 client's trailers alike): (name, value, kept).

Dropped: fields that must not be trailers (RFC 9110 section 6.5.1: routing, connection-specific,
authentication, content format, request modifiers) and the fields journey-lb writes itself for
the backend, which a client could otherwise forge where a backend merges trailers into the head.
A value None is the body's sha256 (hex). Content-Length is left to each protocol's test: HTTP/2
refuses one that does not match the body as malformed, HTTP/1.1 has it dropped."""

REQUEST_TRAILERS = [
    ("x-checksum", None, True),
    ("host", "evil.example", False),
    ("te", "trailers", False),
    ("authorization", "Basic eA==", False),
    ("x-forwarded-for", "6.6.6.6", False),
    ("x-forwarded-proto", "forged-proto", False),
    ("x-request-id", "forged", False),
    ("via", "1.1 forged-via", False),
    ("forwarded", "for=6.6.6.6", False),
    ("content-type", "text/html", False),
    ("if-match", '"x"', False),
    ("x-after", "1", True),
]


def request_trailers(digest):
    """The table with the checksum filled in: [(name, value, kept)]."""
    return [(n, digest if v is None else v, k) for n, v, k in REQUEST_TRAILERS]


def forged_values(rows):
    """The values of the dropped fields, as bytes that must not reach a backend."""
    return [v.encode() for _, v, k in rows if not k and v not in ("trailers",)]
