#define _GNU_SOURCE
#include "CShim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int signalPipeFd = -1;
static volatile sig_atomic_t stopFlag = 0;

int CShim_stopRequested(void) { return stopFlag; }
void CShim_requestStop(void) { stopFlag = 1; }

static void writeSignalByte(int signo) {
    int saved = errno;
    if (signo == SIGTERM || signo == SIGINT || signo == SIGQUIT) stopFlag = 1;
    unsigned char byte = (unsigned char)signo;
    if (signalPipeFd >= 0) {
        ssize_t ignored = write(signalPipeFd, &byte, 1);
        (void)ignored;
    }
    errno = saved;
}

int CShim_signalsToPipe(int fd, const int *signals, int count) {
    signalPipeFd = fd;
    for (int i = 0; i < count; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = writeSignalByte;
        action.sa_flags = SA_RESTART;
        sigemptyset(&action.sa_mask);
        if (sigaction(signals[i], &action, NULL) != 0) return -errno;
    }
    return 0;
}

int CShim_ignoreSIGPIPE(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_IGN;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGPIPE, &action, NULL) == 0 ? 0 : -errno;
}

int CShim_dieWithParent(int signo) {
    return prctl(PR_SET_PDEATHSIG, signo) == 0 ? 0 : -errno;
}

int CShim_pipe(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno;
}

int CShim_setNonBlocking(int fd, int on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -errno;
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags) == 0 ? 0 : -errno;
}

int CShim_setReceiveTimeout(int fd, int millis) {
    struct timeval timeout = {.tv_sec = millis / 1000, .tv_usec = (millis % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0 ? 0 : -errno;
}

int CShim_listenUnix(const char *path, int backlog, int gid) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) return -ENAMETOOLONG;
    strcpy(address.sun_path, path);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct stat info;
    if (lstat(path, &info) == 0) {
        if (!S_ISSOCK(info.st_mode)) {
            close(fd);
            return -EEXIST;
        }
        unlink(path);
    }
    // Owner and group only, set before listen() so that no other local user ever connects.
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || chmod(path, 0660) != 0 ||
        (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) != 0) || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int CShim_listenTCP(const char *host, int port, int backlog) {
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) return -EINVAL;

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, backlog) != 0) {
        int saved = errno;
        close(fd);
        return -saved;
    }
    return fd;
}

int CShim_waitReadable(int fd, int wakeFd, int timeoutMillis) {
    struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = wakeFd, .events = POLLIN}};
    for (;;) {
        int ready = poll(fds, wakeFd >= 0 ? 2 : 1, timeoutMillis);
        if (ready < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (ready == 0) return 0;
        if (wakeFd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) return 2;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) return 1;
        return 0;
    }
}

static pid_t spawn(const char *path, char *const argv[], char *const envp[], int listenFd, int alone) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    if (listenFd >= 0) posix_spawn_file_actions_adddup2(&actions, listenFd, 0);
    if (alone) posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    // The master handles these signals through a pipe; the child starts with
    // the defaults and an empty mask and installs its own.
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGCHLD);
    sigaddset(&defaults, SIGQUIT);
    sigaddset(&defaults, SIGUSR1);
    sigaddset(&defaults, SIGUSR2);
    sigaddset(&defaults, SIGPIPE);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setsigmask(&attributes, &empty);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    pid_t pid = 0;
    int result = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    return result == 0 ? pid : -result;
}

pid_t CShim_spawn(const char *path, char *const argv[], char *const envp[], int listenFd) {
    return spawn(path, argv, envp, listenFd, 0);
}

pid_t CShim_spawnAlone(const char *path, char *const argv[], char *const envp[], int stdinFd) {
    return spawn(path, argv, envp, stdinFd, 1);
}

pid_t CShim_reap(int *exitCode, int *termSignal) {
    int status = 0;
    *exitCode = -1;
    *termSignal = 0;
    pid_t pid;
    do {
        pid = waitpid(-1, &status, WNOHANG);
    } while (pid < 0 && errno == EINTR);
    if (pid < 0) return -errno;
    if (pid == 0) return 0;
    if (WIFEXITED(status)) *exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) *termSignal = WTERMSIG(status);
    return pid;
}

pid_t CShim_getpid(void) { return getpid(); }

long long CShim_wallSeconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec;
}

long long CShim_monotonicNanos(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

#include <sys/mman.h>

void *CShim_mapShared(const char *path, unsigned long size, int create) {
    int fd = open(path, create ? (O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC) : (O_RDWR | O_CLOEXEC), 0644);
    if (fd < 0) return NULL;
    if (create && ftruncate(fd, (off_t)size) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    void *memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return memory == MAP_FAILED ? NULL : memory;
}

unsigned long long CShim_atomicAdd(unsigned long long *word, unsigned long long value) {
    return __atomic_add_fetch(word, value, __ATOMIC_SEQ_CST);
}

unsigned long long CShim_atomicLoad(const unsigned long long *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

void CShim_atomicStore(unsigned long long *word, unsigned long long value) {
    __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
}

void CShim_atomicMax(unsigned long long *word, unsigned long long value) {
    unsigned long long current = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    while (current < value &&
           !__atomic_compare_exchange_n(word, &current, value, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

long long CShim_wallMillis(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (long long)now.tv_sec * 1000LL + now.tv_nsec / 1000000;
}

#include <sys/epoll.h>

int CShim_pollerCreate(void) {
    int poller = epoll_create1(EPOLL_CLOEXEC);
    return poller < 0 ? -errno : poller;
}

int CShim_pollerAddListener(int pollerFd, int listenFd) {
    struct epoll_event event = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
    return epoll_ctl(pollerFd, EPOLL_CTL_ADD, listenFd, &event) == 0 ? 0 : -errno;
}

int CShim_pollerAddConnection(int pollerFd, int fd, void *token) {
    struct epoll_event event = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = token};
    return epoll_ctl(pollerFd, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -errno;
}

int CShim_pollerRearmConnection(int pollerFd, int fd, void *token) {
    struct epoll_event event = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = token};
    return epoll_ctl(pollerFd, EPOLL_CTL_MOD, fd, &event) == 0 ? 0 : -errno;
}

int CShim_pollerRemove(int pollerFd, int fd) {
    return epoll_ctl(pollerFd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
}

int CShim_pollerWait(int pollerFd, void **tokens, int capacity, int timeoutMillis) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    for (;;) {
        int count = epoll_wait(pollerFd, events, capacity, timeoutMillis);
        if (count < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (int i = 0; i < count; i++) tokens[i] = events[i].data.ptr;
        return count;
    }
}

#include <sys/random.h>

int CShim_randomBytes(void *buffer, unsigned long count) {
    unsigned char *bytes = buffer;
    while (count > 0) {
        ssize_t read = getrandom(bytes, count, 0);
        if (read < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        bytes += read;
        count -= (unsigned long)read;
    }
    return 0;
}

void CShim_releaseFreeMemory(void) { malloc_trim(0); }
