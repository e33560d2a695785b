// Exercises a preopened directory mounted at /sandbox: create, write, read back, stat, list,
// rename, delete, and attempts to escape it.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  FILE* f = fopen("/sandbox/out.txt", "w");
  if (!f) {
    printf("open_for_write=FAIL errno=%d\n", errno);
    return 1;
  }
  fprintf(f, "line one\nline two\n");
  fclose(f);

  char buffer[64] = {0};
  f = fopen("/sandbox/out.txt", "r");
  size_t n = f ? fread(buffer, 1, sizeof buffer - 1, f) : 0;
  if (f) fclose(f);
  printf("read_back=%zu:%s", n, buffer);

  struct stat st;
  printf("stat_size=%lld\n", stat("/sandbox/out.txt", &st) == 0 ? (long long)st.st_size : -1LL);
  printf("is_regular=%d\n", S_ISREG(st.st_mode));

  int fd = open("/sandbox/out.txt", O_RDONLY);
  off_t end = lseek(fd, 0, SEEK_END);
  off_t middle = lseek(fd, 5, SEEK_SET);
  char word[4] = {0};
  ssize_t got = read(fd, word, 3);
  close(fd);
  printf("seek_end=%lld seek_set=%lld read=%zd:%s\n", (long long)end, (long long)middle, got, word);

  printf("mkdir=%d\n", mkdir("/sandbox/sub", 0755));
  printf("rename=%d\n", rename("/sandbox/out.txt", "/sandbox/sub/moved.txt"));

  DIR* dir = opendir("/sandbox/sub");
  int entries = 0, found = 0;
  struct dirent* e;
  while (dir && (e = readdir(dir))) {
    ++entries;
    if (strcmp(e->d_name, "moved.txt") == 0) found = 1;
  }
  if (dir) closedir(dir);
  printf("listed_moved=%d\n", found);

  errno = 0;
  int escape = open("/sandbox/../outside.txt", O_RDONLY);
  printf("escape_dotdot=%d\n", escape < 0);
  errno = 0;
  FILE* missing = fopen("/sandbox/does-not-exist", "r");
  printf("missing=%d errno_noent=%d\n", missing == NULL, errno == ENOENT);
  errno = 0;
  FILE* outside = fopen("/etc/passwd", "r");
  printf("absolute_outside=%d\n", outside == NULL);

  FILE* via_link = fopen("/sandbox/link-out", "r");
  printf("symlink_escape=%d\n", via_link == NULL);
  FILE* inside_link = fopen("/sandbox/link-in", "r");
  char inside[8] = {0};
  if (inside_link) {
    fread(inside, 1, sizeof inside - 1, inside_link);
    fclose(inside_link);
  }
  printf("symlink_inside=%s\n", inside);

  printf("unlink=%d\n", unlink("/sandbox/sub/moved.txt"));
  printf("rmdir=%d\n", rmdir("/sandbox/sub"));
  return 0;
}
