// Writes to stdout and stderr and returns 0 from main.
#include <stdio.h>

int main(void) {
  printf("hello from wasi\n");
  fprintf(stderr, "to stderr\n");
  return 0;
}
