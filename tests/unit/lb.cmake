# journey-lb: the pure parts (balancer, header rewriting, config parsing, timers), linked from
# the journey_lb_core library that the program itself uses.
journey_unit_test(test_lb_balancer SOURCES test_lb_balancer.c LIBS journey_lb_core)
journey_unit_test(test_lb_hash SOURCES test_lb_hash.c LIBS journey_lb_core)
journey_unit_test(test_lb_rewrite SOURCES test_lb_rewrite.c LIBS journey_lb_core)
journey_unit_test(test_lb_config SOURCES test_lb_config.c LIBS journey_lb_core)
journey_unit_test(test_lb_timing SOURCES test_lb_timing.c LIBS journey_lb_core)
journey_unit_test(test_lb_deadline SOURCES test_lb_deadline.c LIBS journey_lb_core PkgConfig::LIBUV)
journey_unit_test(test_lb_ticket_keys SOURCES test_lb_ticket_keys.c LIBS journey_lb_core)
# The data plane's pure decisions: request policy, retry policy, framing (lb/core/).
journey_unit_test(test_lb_policy SOURCES test_lb_policy.c LIBS journey_lb_http)
# Strict chunked-body syntax next to llhttp (lb/core/chunk_check.c through lb/http/h1.c).
journey_unit_test(test_lb_chunk_check SOURCES test_lb_chunk_check.c LIBS journey_lb_http)
# Target forms and the path routes see (lb/core/target.c).
journey_unit_test(test_lb_target SOURCES test_lb_target.c LIBS journey_lb_core)
# The TCP+TLS stream (lb/net/stream.c) on real loopback sockets: back-pressure, TLS, end and linger.
journey_unit_test(test_lb_stream SOURCES test_lb_stream.c ${PROJECT_SOURCE_DIR}/lb/net/stream.c
  LIBS PkgConfig::LIBUV)
# The HTTP/2 codec's head conversions (lb/http/h2.c).
journey_unit_test(test_lb_h2 SOURCES test_lb_h2.c LIBS journey_lb_http)
# WebSockets over HTTP/2 (lb/http/h2_ws.c): extended CONNECT into the upgrade request, 101 checked.
journey_unit_test(test_lb_h2_ws SOURCES test_lb_h2_ws.c LIBS journey_lb_http)
# nghttp2's allocator in journey-lb (lb/http/h2_mem.c): bounded free lists, page-backed big blocks.
journey_unit_test(test_lb_h2_mem SOURCES test_lb_h2_mem.c LIBS journey_lb_http)
