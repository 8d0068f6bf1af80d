/* What a complete request head gives the exchange (client_head.c): the facts llhttp parsed
 * (method, version, keep-alive, framing, the target for the logs, the request id), the request
 * policy's verdict with the forwarded head, and the balancing key of a keyed pool. Views into
 * the client's receive buffer: nothing is copied but the target for the logs and the id. */
#ifndef JOURNEY_LB_CLIENT_HEAD_H
#define JOURNEY_LB_CLIENT_HEAD_H

#include "lb/core/request_policy.h"
#include "lb/proxy/client.h"

/* The head's facts into c->ex (the head block is lent): 1 when it has a Host header. */
int lb_client_head_read(lb_client *c);
/* The request policy over the head: *v (a status to answer, or the pool and the forwarded
 * head, written into the head block). */
void lb_client_head_decide(lb_client *c, int has_host, lb_request_verdict *v);
/* A keyed pool's balancing key, for the exchange's pick (hash-key = path: the normalised path
 * of the verdict, valid until the head block is written again). */
void lb_client_head_key(lb_client *c, const lb_request_verdict *v);

#endif
