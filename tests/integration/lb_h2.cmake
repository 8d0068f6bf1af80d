# HTTP/2 through journey-lb (tests/integration/test_lb_h2.py): curl --http2 and h2c, Chromium, nghttp -nv,
# h2load, pooled backend connections under h2's concurrency, retry and 503 over h2, the RFC 9113
# rules as raw frames (Debian's python3-h2), and h2-max-concurrent-streams (refused, GOAWAY).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.h2. test_lb_h2.py ${JOURNEY_DEBIAN_PYTHON} 600
    CASES curl chromium nghttp h2load pool h2c retry rfc9113 attacks sigterm slow_head protocols
          timeouts idle_release max_streams)
endif()

# HTTP/2 response bodies byte for byte (tests/integration/test_lb_h2_bodies.py): 1 MiB through a
# small stream window with a stalled reader, chunked and in pieces; HEAD, 204, 304, empty chunked;
# a chunked response's trailers as a last HEADERS frame (forbidden ones dropped, oversized: reset);
# a backend gone mid-body while the DATA waits for a stalled client. Request bodies without
# content-length: streamed chunked to a recording backend (also from curl -T -), request trailers
# in the chunked trailer section, a backend that stops reading (flow control holds the client),
# one that dies mid-body (502, sent once), max-body-size (413), a stalled body (408), and a slow
# producer's small DATA frames each at the backend before the next is sent (the gather window).
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.h2_bodies. test_lb_h2_bodies.py ${JOURNEY_DEBIAN_PYTHON} 600
    CASES windows empty trailers abort stream req_trailers slow backend_dies max_body
          body_timeout trickle)
endif()

# HPACK of the responses with journey-lb's own fields on (tests/integration/test_lb_h2_hpack.py):
# the values that differ per response (Server-Timing, X-Request-Id) and Set-Cookie arrive never
# indexed and stay out of the dynamic table, the fields as an HTTP/1.1 client gets them.
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.h2_hpack. test_lb_h2_hpack.py ${JOURNEY_DEBIAN_PYTHON} 120
    CASES table local)
endif()

# WebSockets over HTTP/2 (tests/integration/test_lb_h2_ws.py): extended CONNECT to journey-backend's
# /ws echo and to a hand-written backend (the upgrade request it gets, the 200 for its 101, a wrong
# accept, a 404 relayed), the malformed table, h2-websocket off, a stalled tunnel's bounds, resets
# and the tunnel timeout, quiet connections' buffers given back, idle tunnels'
# memory and SIGTERM, and headless Chromium opening its WebSocket on the h2 session.
if(TARGET journey-lb AND TARGET journey-backend)
  journey_lb_cases(integration.h2_ws. test_lb_h2_ws.py ${JOURNEY_DEBIAN_PYTHON} 300
    CASES echo backend answers malformed off slow reset idle drain chromium)
endif()
