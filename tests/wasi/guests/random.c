// Reads 64 random bytes twice with getentropy (random_get) and checks they are not all equal.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  unsigned char a[64], b[64];
  memset(a, 0, sizeof a);
  memset(b, 0, sizeof b);
  int ok_a = getentropy(a, sizeof a) == 0;
  int ok_b = getentropy(b, sizeof b) == 0;
  int nonzero = 0;
  for (size_t i = 0; i < sizeof a; ++i) nonzero |= a[i];
  printf("getentropy=%d differ=%d nonzero=%d\n", ok_a && ok_b, memcmp(a, b, sizeof a) != 0,
         nonzero != 0);
  return 0;
}
