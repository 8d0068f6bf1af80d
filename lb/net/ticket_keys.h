/* TLS session ticket keys of the process: read from --tls-ticket-key-file (shared by several
 * journey-lb instances so that a client resumes on any of them), or one random key made at the
 * first load and kept for the life of the process. The keys live outside the SSL_CTXs, so
 * a SIGHUP reload (new contexts) keeps every ticket valid; it re-reads the file (rotation). */
#ifndef JOURNEY_LB_TICKET_KEYS_H
#define JOURNEY_LB_TICKET_KEYS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* file "": the process's own random key (made once). Otherwise the file is read, its
 * permissions checked (no access for other users) and its keys replace the current ones only
 * when all of it is valid. Returns 0, or -1 with the file, the line and what to do in err. */
int lb_ticket_keys_load(const char *file, char *err, size_t errlen);
/* The context encrypts and decrypts its tickets with those keys. */
int lb_ticket_keys_attach(SSL_CTX *ctx);
/* How many keys are in use, for the start and reload logs. */
int lb_ticket_keys_count(void);

#endif
