// The smallest rewind demo: a WASI command. `rewind run hello.wasm` prints a greeting and the
// arguments it was given.
#include <stdio.h>

int main(int argc, char** argv) {
  printf("Hello from a rewind guest!\n");
  for (int i = 1; i < argc; ++i) printf("arg %d: %s\n", i, argv[i]);
  return 0;
}
