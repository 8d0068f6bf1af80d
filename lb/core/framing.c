/* Body framing decisions (framing.h). */
#include "lb/core/framing.h"

lb_framing lb_request_framing(int chunked, int has_length, uint64_t length) {
  if (chunked)
    return LB_FRAME_CHUNKED;
  if (has_length && length > 0)
    return LB_FRAME_LENGTH;
  return LB_FRAME_NONE;
}

lb_framing lb_response_framing(int status, int is_head, int chunked, int has_length,
                               uint64_t length) {
  if (status < 200 || status == 204 || status == 304 || is_head || (has_length && length == 0))
    return LB_FRAME_NONE;
  if (chunked)
    return LB_FRAME_CHUNKED;
  if (has_length)
    return LB_FRAME_LENGTH;
  return LB_FRAME_CLOSE;
}

lb_relay_plan lb_response_plan(lb_framing backend, int is_head, int backend_chunked,
                               int client_minor, int reusable_client) {
  lb_relay_plan p = {.client = backend, .dechunk = 0, .keep_alive = 0};
  if (backend == LB_FRAME_CHUNKED && client_minor == 0) {
    p.dechunk = 1;
    p.client = LB_FRAME_CLOSE;
  }
  if (is_head && backend_chunked && client_minor == 1)
    p.client = LB_FRAME_CHUNKED;
  p.keep_alive = reusable_client && p.client != LB_FRAME_CLOSE;
  return p;
}
