/* team.c: the fork-join team of team.h.
 *
 * A region is published by bumping `generation` after storing fn/arg; a member
 * runs the region once per generation and then counts itself in `finished`.
 * The owner runs member 0 itself and waits until `finished` reaches size - 1.
 *
 * Sleeping without lost wake-ups: a member that stops spinning registers in
 * `sleepers` and re-checks the generation under the mutex before waiting; the
 * owner bumps the generation and then reads `sleepers` (both sequentially
 * consistent), and broadcasts under the mutex when anyone may sleep. So either
 * the member sees the new generation or the owner sees the sleeper.
 *
 * Invariant: between regions every member has finished the last generation,
 * so fn/arg can be replaced. */
#include "team.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* ~20-50 us of pause instructions: longer than the serial gaps inside a
 * training step, far shorter than the time between training steps' batches */
#define SPIN_LIMIT 4096
#define OWNER_YIELD_AFTER 65536

struct dn_team_t {
    int size;
    pthread_t *threads;       /* [size - 1] */
    int started;              /* threads created */
    dn_team_fn fn;
    void *arg;
    atomic_uint generation;
    atomic_int finished;
    atomic_int sleepers;
    atomic_int stop;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

typedef struct {
    dn_team_t *team;
    int member;
} member_arg_t;

static member_arg_t *member_args(dn_team_t *t)
{
    /* lives right after the thread handles */
    return (member_arg_t *)(t->threads + (t->size - 1));
}

static unsigned wait_generation(dn_team_t *t, unsigned seen)
{
    unsigned g;
    for (int i = 0; i < SPIN_LIMIT; i++) {
        g = atomic_load_explicit(&t->generation, memory_order_acquire);
        if (g != seen)
            return g;
        CPU_RELAX();
    }
    pthread_mutex_lock(&t->mutex);
    atomic_fetch_add(&t->sleepers, 1);
    while ((g = atomic_load(&t->generation)) == seen)
        pthread_cond_wait(&t->wake, &t->mutex);
    atomic_fetch_sub(&t->sleepers, 1);
    pthread_mutex_unlock(&t->mutex);
    return g;
}

static void *member_main(void *p)
{
    member_arg_t *ma = p;
    dn_team_t *t = ma->team;
    unsigned seen = 0;
    for (;;) {
        seen = wait_generation(t, seen);
        if (atomic_load_explicit(&t->stop, memory_order_acquire))
            return NULL;
        t->fn(t->arg, ma->member, t->size);
        atomic_fetch_add_explicit(&t->finished, 1, memory_order_release);
    }
}

static void publish(dn_team_t *t)
{
    atomic_fetch_add(&t->generation, 1);
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->mutex);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->mutex);
    }
}

dn_team_t *dn_team_new(int size)
{
    if (size < 1 || size > 64)
        return NULL;
    dn_team_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->size = size;
    atomic_init(&t->generation, 0);
    atomic_init(&t->finished, 0);
    atomic_init(&t->sleepers, 0);
    atomic_init(&t->stop, 0);
    if (pthread_mutex_init(&t->mutex, NULL)) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->wake, NULL)) {
        pthread_mutex_destroy(&t->mutex);
        free(t);
        return NULL;
    }
    if (size > 1) {
        t->threads = malloc((size_t)(size - 1) * (sizeof(pthread_t) + sizeof(member_arg_t)));
        if (!t->threads)
            goto fail;
        member_arg_t *ma = member_args(t);
        for (int i = 0; i < size - 1; i++) {
            ma[i].team = t;
            ma[i].member = i + 1;
            if (pthread_create(&t->threads[i], NULL, member_main, &ma[i]))
                goto fail;
            t->started++;
        }
    }
    return t;
fail:
    dn_team_destroy(&t);
    return NULL;
}

void dn_team_destroy(dn_team_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_team_t *t = *self_p;
    if (t->started > 0) {
        atomic_store(&t->stop, 1);
        publish(t);
        for (int i = 0; i < t->started; i++)
            pthread_join(t->threads[i], NULL);
    }
    free(t->threads);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->mutex);
    free(t);
    *self_p = NULL;
}

int dn_team_size(const dn_team_t *team) { return team ? team->size : 1; }

void dn_team_run(dn_team_t *team, dn_team_fn fn, void *arg)
{
    if (!team || team->size == 1) {
        fn(arg, 0, 1);
        return;
    }
    team->fn = fn;
    team->arg = arg;
    atomic_store_explicit(&team->finished, 0, memory_order_relaxed);
    publish(team);
    fn(arg, 0, team->size);
    const int others = team->size - 1;
    for (long i = 0; atomic_load_explicit(&team->finished, memory_order_acquire) < others; i++) {
        if (i >= OWNER_YIELD_AFTER)
            sched_yield(); /* a member lost its core: let it run */
        else
            CPU_RELAX();
    }
}
