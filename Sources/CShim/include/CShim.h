#ifndef CSHIM_H
#define CSHIM_H

#include <sys/types.h>

/// Installs handlers (with SA_RESTART) for the given signals that write the
/// signal number as one byte to `fd`, the write end of a non-blocking pipe (or -1: none).
int CShim_signalsToPipe(int fd, const int *signals, int count);

/// Set by CShim_requestStop and by the handlers of CShim_signalsToPipe for SIGTERM, SIGINT
/// and SIGQUIT: a flag that
/// can be read on every request without a system call.
int CShim_stopRequested(void);
void CShim_requestStop(void);

/// Gives the memory malloc holds free back to the system (glibc's malloc_trim).
void CShim_releaseFreeMemory(void);

/// Ignores SIGPIPE: a peer that closes mid-response must not kill the process.
int CShim_ignoreSIGPIPE(void);

/// Asks the kernel to send `signo` to this process when its parent dies.
int CShim_dieWithParent(int signo);

/// Creates a pipe whose ends are non-blocking and close-on-exec.
int CShim_pipe(int fds[2]);

/// Sets or clears O_NONBLOCK.
int CShim_setNonBlocking(int fd, int on);

/// Makes a blocking read on `fd` give up (EAGAIN) after `millis` without data.
int CShim_setReceiveTimeout(int fd, int millis);

/// Creates, binds and listens on a unix socket at `path` (replacing a stale
/// socket file) with mode 0660, in group `gid` (or the process's when -1): only the owner
/// and that group (nginx's) may connect. Returns the fd or -errno.
int CShim_listenUnix(const char *path, int backlog, int gid);

/// Creates, binds and listens on a TCP socket. Returns the fd or -errno.
int CShim_listenTCP(const char *host, int port, int backlog);

/// Waits until `fd` is readable (returns 1), `wakeFd` is readable (returns 2),
/// the timeout passes (0) or an error occurs (-errno). EINTR is retried.
int CShim_waitReadable(int fd, int wakeFd, int timeoutMillis);

/// Starts `path` with `argv` and `envp` and `listenFd` as its fd 0. Returns the
/// child's pid or -errno.
pid_t CShim_spawn(const char *path, char *const argv[], char *const envp[], int listenFd);

/// Like CShim_spawn, and the child keeps nothing but fds 0, 1 and 2: no descriptor the
/// parent holds without close-on-exec (libfcgi accepts its connections without it) leaks
/// into the child and outlives the parent's close.
pid_t CShim_spawnAlone(const char *path, char *const argv[], char *const envp[], int stdinFd);

/// Non-blocking waitpid(-1). Returns the pid (0 if none, -errno on error) and
/// fills `exitCode` (>= 0) or `termSignal` (> 0).
pid_t CShim_reap(int *exitCode, int *termSignal);

/// The current process id (a wrapper for readability in Swift).
pid_t CShim_getpid(void);

/// Wall clock in whole seconds and monotonic clock in nanoseconds.
long long CShim_wallSeconds(void);
long long CShim_monotonicNanos(void);

/// Opens (creating and sizing it when `create`) a file and maps `size` bytes of it shared
/// between processes: the pool's scoreboard. Returns NULL on failure (errno set).
void *CShim_mapShared(const char *path, unsigned long size, int create);

/// Atomic operations on 64-bit words of shared memory (sequentially consistent).
unsigned long long CShim_atomicAdd(unsigned long long *word, unsigned long long value);
unsigned long long CShim_atomicLoad(const unsigned long long *word);
void CShim_atomicStore(unsigned long long *word, unsigned long long value);
/// Raises `*word` to `value` if it is lower.
void CShim_atomicMax(unsigned long long *word, unsigned long long value);

/// Wall clock in milliseconds.
long long CShim_wallMillis(void);

/// The epoll instance all threads of a worker wait on (epoll_wait wakes one waiter per
/// event). Returns the fd or -errno.
int CShim_pollerCreate(void);

/// Adds the listening socket with EPOLLEXCLUSIVE (token NULL): a new connection wakes one
/// waiter among all workers sharing the socket, not every one (the thundering herd).
int CShim_pollerAddListener(int pollerFd, int listenFd);

/// Adds a connection with EPOLLONESHOT and `token`: once reported readable it is reported
/// to no other thread until CShim_pollerRearmConnection, so one thread serves it at a time.
int CShim_pollerAddConnection(int pollerFd, int fd, void *token);
int CShim_pollerRearmConnection(int pollerFd, int fd, void *token);

/// Removes a descriptor. Returns 0 or -errno (all of these).
int CShim_pollerRemove(int pollerFd, int fd);

/// Waits for events and stores up to `capacity` tokens (at most 64). Returns how many,
/// 0 on timeout, or -errno; EINTR is retried.
int CShim_pollerWait(int pollerFd, void **tokens, int capacity, int timeoutMillis);

/// Fills `buffer` with `count` bytes from the kernel's CSPRNG (getrandom, which Swift's
/// Glibc module does not export). Returns 0, or -errno.
int CShim_randomBytes(void *buffer, unsigned long count);

#endif
