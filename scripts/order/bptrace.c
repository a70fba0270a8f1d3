// Run a program (and its clones, until they exec) with a one-shot breakpoint
// on every function start and print the offset of each function entered:
//   bptrace STARTS PROGRAM ARGS... > offsets
// STARTS holds one hex offset per line (function starts from the link map;
// for a static-pie binary, offsets from the load base). Each breakpoint is an
// int3 written over the function's first byte; when a process hits it, the
// byte is put back in that process and it goes on, so a function costs one
// stop however often it runs (single-stepping every instruction took more
// than 15 minutes for gen.sh's commands; this takes seconds).
// Stops when PROGRAM exits, with its exit status. Clones still running then (a created container's
// init waiting for `start`) get every byte put back before they are released
// untraced, or they would die of SIGTRAP later. PROGRAM's stdout goes to
// stderr. Used by gen.sh only.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXPID (1 << 22)
static unsigned long *offs;
static unsigned char *orig, *hit;
static size_t n;
static unsigned long base;
static unsigned char role[MAXPID]; // 0 untracked, 1 the program, 2 a clone

static unsigned long find_base(pid_t p, const char *exe) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/maps", p);
  FILE *f = fopen(path, "r");
  unsigned long lo = 0;
  while (f && fgets(line, sizeof line, f)) {
    unsigned long a, b, off;
    char perm[8];
    if (sscanf(line, "%lx-%lx %7s %lx", &a, &b, perm, &off) == 4 && strstr(line, exe) && off == 0) {
      lo = a;
      break;
    }
  }
  if (f) fclose(f);
  return lo;
}

static int mem(pid_t p) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", p);
  return open(path, O_RDWR);
}

static long find(unsigned long off) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (offs[mid] < off) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && offs[lo] == off ? (long)lo : -1;
}

static int cmp(const void *a, const void *b) {
  unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
  return x < y ? -1 : x > y;
}

// Put every original byte back in p's memory (a no-op where already back).
static void restore_all(pid_t p) {
  int fd = mem(p);
  if (fd < 0) return;
  for (size_t i = 0; i < n; i++) pwrite(fd, &orig[i], 1, base + offs[i]);
  close(fd);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bptrace STARTS PROGRAM ARGS...\n");
    return 2;
  }
  FILE *sf = fopen(argv[1], "r");
  if (!sf) {
    perror(argv[1]);
    return 2;
  }
  size_t cap = 1 << 16;
  offs = malloc(cap * sizeof *offs);
  unsigned long v;
  while (fscanf(sf, "%lx", &v) == 1) {
    if (n == cap) offs = realloc(offs, (cap *= 2) * sizeof *offs);
    offs[n++] = v;
  }
  fclose(sf);
  qsort(offs, n, sizeof *offs, cmp);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!k || offs[k - 1] != offs[i]) offs[k++] = offs[i];
  n = k;
  orig = calloc(n, 1);
  hit = calloc(n, 1);
  const char *exe = argv[2];
  pid_t c = fork();
  if (!c) {
    dup2(2, 1);
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    raise(SIGSTOP);
    execv(exe, argv + 2);
    _exit(127);
  }
  int st;
  waitpid(c, &st, 0);
  ptrace(PTRACE_SETOPTIONS, c, 0,
         PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC);
  ptrace(PTRACE_CONT, c, 0, 0);
  int armed = 0, status = 1;
  long stops = 0;
  for (;;) {
    pid_t p = waitpid(-1, &st, __WALL);
    if (p < 0) break;
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      role[p % MAXPID] = 0;
      if (p == c) {
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      continue;
    }
    int sig = WSTOPSIG(st), ev = st >> 16, pass = 0;
    if (ev == PTRACE_EVENT_EXEC) {
      if (p == c && !armed) {
        armed = 1;
        base = find_base(p, exe);
        role[p % MAXPID] = 1;
        int fd = mem(p);
        unsigned char cc = 0xcc;
        for (size_t i = 0; i < n; i++) {
          if (pread(fd, &orig[i], 1, base + offs[i]) != 1 || pwrite(fd, &cc, 1, base + offs[i]) != 1) {
            fprintf(stderr, "bptrace: cannot patch offset %lx\n", offs[i]);
            return 1;
          }
        }
        close(fd);
      } else {
        // A clone exec'd the container's process: nothing of ours is left in it.
        role[p % MAXPID] = 0;
        ptrace(PTRACE_DETACH, p, 0, 0);
        continue;
      }
    } else if (ev) {
      unsigned long child;
      if (ptrace(PTRACE_GETEVENTMSG, p, 0, &child) == 0 && role[p % MAXPID]) role[child % MAXPID] = 2;
    } else if (sig == SIGTRAP && armed && role[p % MAXPID]) {
      struct user_regs_struct r;
      ptrace(PTRACE_GETREGS, p, 0, &r);
      long i = find(r.rip - 1 - base);
      if (i >= 0) {
        int fd = mem(p);
        pwrite(fd, &orig[i], 1, base + offs[i]);
        close(fd);
        r.rip -= 1;
        ptrace(PTRACE_SETREGS, p, 0, &r);
        hit[i] |= role[p % MAXPID];
        stops++;
      } else {
        pass = sig;
      }
    } else if (sig == SIGSTOP && p != c && !role[p % MAXPID]) {
      role[p % MAXPID] = 2; // a new clone's first stop, seen before its parent's event
    } else if (sig == SIGSTOP && p != c) {
      // a new clone's first stop
    } else {
      pass = sig;
    }
    ptrace(PTRACE_CONT, p, 0, pass);
  }
  for (pid_t p = 1; p < MAXPID; p++)
    if (role[p] && p != c) restore_all(p);
  fprintf(stderr, "bptrace: %ld functions entered, base %lx\n", stops, base);
  for (size_t i = 0; i < n; i++)
    if (hit[i]) printf("%lx %d\n", offs[i], hit[i]);
  return status;
}
