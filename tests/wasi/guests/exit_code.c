// Prints (buffered) and exits with code 3 through exit(), i.e. proc_exit after flushing stdio.
// With an argument, exits with that code instead.
#include <stdio.h>
#include <stdlib.h>

static void bye(void) { printf("atexit ran\n"); }

int main(int argc, char** argv) {
  atexit(bye);
  printf("about to exit\n");
  exit(argc > 1 ? atoi(argv[1]) : 3);
}
