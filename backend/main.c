/* journey-backend: flags, signals, start and graceful stop. The server itself is in server.c.
 *
 * The main thread runs a small loop of its own for signals only: SIGTERM/SIGINT drain the
 * workers (a second one cuts in-flight requests), SIGUSR1/SIGUSR2 switch the health state. */
#include "backend/options.h"
#include "backend/server.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

typedef struct app {
  uv_loop_t loop;
  uv_signal_t sig_term, sig_int, sig_usr1, sig_usr2;
  uv_async_t done; /* a worker exited */
  be_server *srv;
  int stops;       /* SIGTERM/SIGINT received */
} app;

static void on_closed(uv_handle_t *h) { (void)h; }

static void close_main_handles(app *a) {
  uv_close((uv_handle_t *)&a->sig_term, on_closed);
  uv_close((uv_handle_t *)&a->sig_int, on_closed);
  uv_close((uv_handle_t *)&a->sig_usr1, on_closed);
  uv_close((uv_handle_t *)&a->sig_usr2, on_closed);
  uv_close((uv_handle_t *)&a->done, on_closed);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  if (!a->srv)
    return; /* still starting */
  if (signum == SIGUSR1) {
    be_health_set(0, "SIGUSR1");
    return;
  }
  if (signum == SIGUSR2) {
    be_health_set(1, "SIGUSR2");
    return;
  }
  a->stops++;
  jc_logline l;
  jc_log_begin(&l, JC_LOG_INFO, a->stops == 1 ? "draining" : "stopping now");
  jc_logline_str(&l, "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  if (a->stops == 1)
    jc_logline_str(&l, "hint", "in-flight requests finish; send it again to cut them");
  jc_log_emit(&l);
  be_server_drain(a->srv, a->stops > 1);
}

static void on_worker_done(uv_async_t *h) {
  app *a = h->data;
  if (be_server_finished(a->srv))
    close_main_handles(a);
}

int main(int argc, char **argv) {
  be_options o;
  const char *what;
  char err[512];
  be_options_defaults(&o);
  int r = be_options_parse(&o, argc, argv, &what, err, sizeof err);
  if (r == 1) {
    if (what[0] == 'h')
      be_options_usage(stdout);
    else
      printf("journey-backend %s\n", JOURNEY_VERSION);
    return 0;
  }
  if (r != 0) {
    fprintf(stderr, "journey-backend: %s\n", err);
    return 2;
  }
  jc_log_setup((jc_log_level)o.log_level, (jc_log_format)o.log_format);
  signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error code, not a death */

  app a = {0};
  uv_loop_init(&a.loop);
  uv_async_init(&a.loop, &a.done, on_worker_done);
  a.done.data = &a;
  /* Signal handlers first: scripts send signals as soon as the "listening" line appears. */
  uv_signal_t *sigs[] = {&a.sig_term, &a.sig_int, &a.sig_usr1, &a.sig_usr2};
  int signums[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
  for (int i = 0; i < 4; i++) {
    uv_signal_init(&a.loop, sigs[i]);
    sigs[i]->data = &a;
    uv_signal_start(sigs[i], on_signal, signums[i]);
  }
  if (be_server_create(&a.srv, &o, &a.done, err, sizeof err) != 0) {
    jc_log(JC_LOG_ERROR, "%s", err);
    close_main_handles(&a);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    return 1;
  }
  int rc = 0;
  if (be_server_start(a.srv, err, sizeof err) != 0) {
    jc_log(JC_LOG_ERROR, "%s", err);
    rc = 1;
  }
  if (be_server_finished(a.srv)) /* nothing started */
    close_main_handles(&a);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  be_server_destroy(a.srv);
  uv_loop_close(&a.loop);
  if (rc == 0)
    jc_log(JC_LOG_INFO, "stopped");
  return rc;
}
