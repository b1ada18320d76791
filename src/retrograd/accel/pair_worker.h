/* Two halves of a job at once: one on the calling thread, one on a worker thread of this library.
 *
 * Why not a Python thread: handing a half to a Python executor and collecting it
 * cost about 0.1 ms each way here (a futex wake, then the GIL), twice per call;
 * a W4 step makes two calls. This worker never touches Python: after a job it
 * spins for a while (SPIN_NS) watching for the next one, so the calls of a
 * training loop, a fraction of a millisecond apart, reach it at once; after that
 * it sleeps on a condition variable. The caller spins too while it waits for the
 * worker's half, which takes about as long as its own.
 *
 * One pair runs at a time: a second thread that calls meanwhile runs both of its
 * halves itself. A forked child, which has no worker thread, starts its own.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#ifndef SPIN_NS
#define SPIN_NS 2000000L     /* how long the idle worker watches for the next job before it sleeps */
#endif
#define YIELD_NS 200000L     /* how long the caller spins for the worker's half before it also yields */

typedef void (*half_fn)(void *job, int half);

static struct {
    pthread_mutex_t busy;                   /* held by the caller of the pair in flight */
    pthread_mutex_t mu;                     /* with wake: the sleeping worker's wake-up */
    pthread_cond_t wake;
    atomic_long posted, done;               /* jobs handed to the worker, jobs it finished */
    atomic_int sleeping;
    half_fn fn;
    void *job;
    pid_t pid;                              /* the process the worker runs in; 0: none yet */
} pair_worker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *pair_worker_loop(void *unused) {
    (void)unused;
    long seen = 0;                          /* pair_worker_start reset posted; a job may already be posted */
    for (;;) {
        long start = now_ns();
        for (unsigned spins = 1; atomic_load(&pair_worker.posted) == seen; spins++) {
            cpu_relax();
            if (spins % 256 == 0 && now_ns() - start > SPIN_NS) {
                pthread_mutex_lock(&pair_worker.mu);
                atomic_store(&pair_worker.sleeping, 1);
                /* the poster increments posted before it reads sleeping, so one of the two sees the other */
                while (atomic_load(&pair_worker.posted) == seen) pthread_cond_wait(&pair_worker.wake, &pair_worker.mu);
                atomic_store(&pair_worker.sleeping, 0);
                pthread_mutex_unlock(&pair_worker.mu);
            }
        }
        seen++;
        pair_worker.fn(pair_worker.job, 0);
        atomic_store(&pair_worker.done, seen);
    }
    return NULL;
}

/* Start the worker in this process if it has none (first call, or a forked child); 0 if it runs. */
static int pair_worker_start(void) {
    if (pair_worker.pid == getpid()) return 0;
    pthread_mutex_init(&pair_worker.mu, NULL);          /* a child may inherit these mid-use */
    pthread_cond_init(&pair_worker.wake, NULL);
    atomic_store(&pair_worker.posted, 0);
    atomic_store(&pair_worker.done, 0);
    atomic_store(&pair_worker.sleeping, 0);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int failed = pthread_create(&thread, &attr, pair_worker_loop, NULL);
    pthread_attr_destroy(&attr);
    if (failed) return -1;
    pair_worker.pid = getpid();
    return 0;
}

/* fn(job, 0) on the worker and fn(job, 1) here, both finished on return; both here when
 * the worker is taken by another thread's pair or could not be started. */
static void run_pair(half_fn fn, void *job) {
    if (pthread_mutex_trylock(&pair_worker.busy) != 0) {
        fn(job, 0);
        fn(job, 1);
        return;
    }
    if (pair_worker_start() != 0) {
        pthread_mutex_unlock(&pair_worker.busy);
        fn(job, 0);
        fn(job, 1);
        return;
    }
    pair_worker.fn = fn;
    pair_worker.job = job;
    long mine = atomic_fetch_add(&pair_worker.posted, 1) + 1;
    if (atomic_load(&pair_worker.sleeping)) {
        pthread_mutex_lock(&pair_worker.mu);
        pthread_cond_signal(&pair_worker.wake);
        pthread_mutex_unlock(&pair_worker.mu);
    }
    fn(job, 1);
    long start = now_ns();
    for (unsigned spins = 1; atomic_load(&pair_worker.done) != mine; spins++) {
        cpu_relax();
        /* a worker kept off its core by other jobs gets this one's share */
        if (spins % 256 == 0 && now_ns() - start > YIELD_NS) sched_yield();
    }
    pthread_mutex_unlock(&pair_worker.busy);
}
