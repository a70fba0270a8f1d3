/* The pod sandbox's pause process for tests/stack/cri.sh (no registry here,
 * so no registry.k8s.io/pause): sleep in pause() until SIGINT/SIGTERM, reap
 * any child re-parented to it (it is pid 1 of the pod when the pod shares a
 * pid namespace). Built with gcc -static; the image is this one file. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &q, NULL) || sigaction(SIGTERM, &q, NULL) || sigaction(SIGCHLD, &r, NULL))
        return 1;
    for (;;) pause();
}
