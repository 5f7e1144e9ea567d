/* A leak at exit, for TestSanitizerChecks: LeakSanitizer must report it. */
#include <stdlib.h>
#include <string.h>

int main(void) {
  char *p = malloc(4096);
  memset(p, 1, 4096);
  p = NULL; /* the only pointer is gone: a direct leak */
  return 0;
}
