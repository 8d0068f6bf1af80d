#include "client/exit_code.h"

#include <errno.h>

const char *jn_exit_name(int code) {
  switch (code) {
  case JN_EXIT_OK: return "ok";
  case JN_EXIT_USAGE: return "usage";
  case JN_EXIT_URL: return "url";
  case JN_EXIT_DNS: return "dns";
  case JN_EXIT_CONNECT: return "connect";
  case JN_EXIT_WEIRD_REPLY: return "bad-reply";
  case JN_EXIT_HTTP: return "http-error";
  case JN_EXIT_WRITE: return "write";
  case JN_EXIT_TIMEOUT: return "timeout";
  case JN_EXIT_TLS: return "tls-handshake";
  case JN_EXIT_TOO_MANY_REDIRECTS: return "too-many-redirects";
  case JN_EXIT_EMPTY_REPLY: return "empty-reply";
  case JN_EXIT_RECV: return "recv";
  case JN_EXIT_CERT: return "certificate";
  case JN_EXIT_CLIENT_CERT: return "client-certificate";
  case JN_EXIT_ENCODING: return "content-encoding";
  case JN_EXIT_CACERT: return "ca-file";
  case JN_EXIT_HTTP2: return "http2";
  case JN_EXIT_HTTP2_STREAM: return "http2-stream";
  default: return "error";
  }
}

const char *jn_exit_hint(int code) {
  switch (code) {
  case JN_EXIT_OK: return "";
  case JN_EXIT_USAGE: return "see journey --help";
  case JN_EXIT_URL: return "check the URL: https://host[:port]/path";
  case JN_EXIT_DNS: return "check the name, --dns-servers, --hosts-file, or pin it with --resolve host:port:addr";
  case JN_EXIT_CONNECT: return "is the server listening on that address and port? is a firewall in the way?";
  case JN_EXIT_WEIRD_REPLY: return "the server did not answer with valid HTTP/1.1 (is it speaking TLS or plain HTTP as the scheme says?)";
  case JN_EXIT_HTTP: return "the server answered with an error status (--fail was given)";
  case JN_EXIT_WRITE: return "check the -o path and free disk space";
  case JN_EXIT_TIMEOUT: return "raise --max-time / --connect-timeout, or find out why the server is slow";
  case JN_EXIT_TLS: return "the server and journey could not agree on TLS (version, cipher, ALPN) or the connection broke";
  case JN_EXIT_RECV: return "the connection broke while reading the response";
  case JN_EXIT_TOO_MANY_REDIRECTS: return "the redirects go on (a loop?): raise --max-redirs or look at the Location headers";
  case JN_EXIT_EMPTY_REPLY: return "the server closed the connection without answering";
  case JN_EXIT_CLIENT_CERT: return "check --cert and --key: readable PEM files, the key matching the certificate";
  case JN_EXIT_CERT: return "pass the right CA with --cacert FILE, or (only for testing) -k";
  case JN_EXIT_ENCODING: return "the body's Content-Encoding could not be decoded";
  case JN_EXIT_CACERT: return "check the --cacert path: it must be a readable PEM file";
  case JN_EXIT_HTTP2: return "the HTTP/2 connection failed (or --http2 was given and the server does not offer h2): try --http1.1";
  case JN_EXIT_HTTP2_STREAM: return "the server reset the request's HTTP/2 stream: its error code says why";
  default: return "";
  }
}

int jn_exit_for_connect(int err, int timed_out) {
  return timed_out || err == ETIMEDOUT ? JN_EXIT_TIMEOUT : JN_EXIT_CONNECT;
}

int jn_exit_for_tls(long verify_result) { return verify_result != 0 ? JN_EXIT_CERT : JN_EXIT_TLS; }

int jn_exit_for_http(int status, int fail) { return fail && status >= 400 ? JN_EXIT_HTTP : JN_EXIT_OK; }
