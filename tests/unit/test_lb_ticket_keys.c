/* The session ticket key file: what is a key, which encrypts, and every error names its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "lb/core/ticket_key_file.h"

/* 80 bytes: name 00..0f, AES key 10..2f, HMAC key 30..4f. */
static const char k80[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OT"
    "o7PD0+P0BBQkNERUZHSElKS0xNTk8=";
/* 48 bytes: name 50..5f, AES-128 key 60..6f, HMAC key 70..7f. */
static const char k48[] = "UFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/";

static int parse(const char *text, lb_ticket_keys *k, char *why) {
  return lb_ticket_keys_parse(text, strlen(text), k, why, 300);
}

static void layout_and_order(void **state) {
  (void)state;
  lb_ticket_keys k;
  char why[300] = "", text[600];
  snprintf(text, sizeof text, "# current first, then the previous one\n\n  %s  \r\n%s", k80, k48);
  assert_int_equal(parse(text, &k, why), 0);
  assert_int_equal(k.n, 2);
  assert_int_equal(k.key[0].len, 32);
  assert_int_equal(k.key[0].name[0], 0x00);
  assert_int_equal(k.key[0].name[15], 0x0f);
  assert_int_equal(k.key[0].aes[0], 0x10);
  assert_int_equal(k.key[0].aes[31], 0x2f);
  assert_int_equal(k.key[0].hmac[0], 0x30);
  assert_int_equal(k.key[0].hmac[31], 0x4f);
  assert_int_equal(k.key[1].len, 16);
  assert_int_equal(k.key[1].name[0], 0x50);
  assert_int_equal(k.key[1].aes[0], 0x60);
  assert_int_equal(k.key[1].hmac[15], 0x7f);
}

static void errors_name_the_line(void **state) {
  (void)state;
  lb_ticket_keys k;
  char why[300], text[800];
  static const struct {
    const char *line2, *want;
  } cases[] = {
      {"not base64 at all!", "line 2: not base64"},
      {"AAECAwQFBgcICQoLDA0ODw==", "line 2: 16 bytes; a key is 80 bytes"},
      {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OT",
       "line 2: not base64"},
      {"=AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
       "P0BBQkNERUZHSElKS0xNTk8=",
       "line 2: not base64"},
      {k80, "line 2: the same key name (first 16 bytes) as key 1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(text, sizeof text, "%s\n%s\n", k80, cases[i].line2);
    why[0] = 0;
    assert_int_equal(parse(text, &k, why), -1);
    if (!strstr(why, cases[i].want))
      fail_msg("case %zu: got '%s', want '%s'", i, why, cases[i].want);
  }
  assert_int_equal(parse("# only a comment\n\n", &k, why), -1);
  assert_non_null(strstr(why, "no key"));
  /* Too many keys: the ninth line is refused. */
  char many[2000] = "";
  for (int i = 0; i < LB_TICKET_KEYS_MAX + 1; i++) {
    char line[120];
    snprintf(line, sizeof line, "%c%s\n", "ABCDEFGHIJ"[i], k80 + 1); /* distinct names */
    strcat(many, line);
  }
  assert_int_equal(parse(many, &k, why), -1);
  assert_non_null(strstr(why, "line 9: more than 8 keys"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(layout_and_order),
      cmocka_unit_test(errors_name_the_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
