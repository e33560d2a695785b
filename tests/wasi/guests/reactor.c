// A reactor (built with -mexec-model=reactor): _initialize runs constructors, then exports are
// called one by one, as a worker would be.
#include <stdio.h>
#include <stdlib.h>

static int base;

__attribute__((constructor)) static void init(void) { base = 1000; }

__attribute__((export_name("add_base"))) int add_base(int x) {
  printf("add_base(%d)\n", x);
  fflush(stdout);
  return base + x;
}

__attribute__((export_name("fail"))) void fail(int code) { exit(code); }
