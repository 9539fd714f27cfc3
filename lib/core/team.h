/* team.h: a fixed team of threads that runs one function on every member and
 * waits for all of them (fork-join without creating threads per call).
 *
 * DINAMO-ML's training step is a handful of such regions (dn_mlmodel uses it to
 * put a second core on one model). Work is divided by the caller, never by the
 * team: a caller that splits its work into parts that do not depend on the
 * number of threads gets bit-identical results with any team size.
 *
 * Members spin briefly between regions (regions of one training step follow
 * each other within microseconds) and then sleep on a condition variable, so an
 * idle team costs no CPU.
 *
 * Thread rules: one thread (the owner) calls dn_team_run and dn_team_destroy;
 * regions do not nest. The function runs on the owner as member 0. */
#ifndef DN_TEAM_H
#define DN_TEAM_H

typedef struct dn_team_t dn_team_t;

/* What a member runs: `arg` as given to dn_team_run, `member` in [0, size). */
typedef void (*dn_team_fn)(void *arg, int member, int size);

/* A team of `size` members (size - 1 new threads; 1 <= size <= 64). Returns
 * NULL on bad size or when a thread cannot be created. Owned by the caller:
 * dn_team_destroy. */
dn_team_t *dn_team_new(int size);

/* Stops and joins the threads, frees the team and sets *self_p to NULL.
 * Accepts NULL and a pointer to NULL. */
void dn_team_destroy(dn_team_t **self_p);

/* Number of members (1 for a NULL team). */
int dn_team_size(const dn_team_t *team);

/* Runs fn(arg, m, size) on every member m and returns when all have returned.
 * A NULL team runs fn(arg, 0, 1) on the caller. */
void dn_team_run(dn_team_t *team, dn_team_fn fn, void *arg);

#endif
