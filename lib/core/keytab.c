/* keytab.c: string -> dense index, open addressing (see keytab.h).
 *
 * slots[] holds index + 1 (0: empty). Removal uses backward-shift deletion
 * instead of tombstones, so a table that sees keys come and go (an elastic
 * trainer's owned keys) never degrades. */
#include "keytab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct dn_keytab_t {
    char **keys;     /* [cap_keys] by index */
    int n, cap_keys;
    int *slots;      /* [n_slots] index + 1, 0 empty */
    int n_slots;     /* power of two, > 2 n */
};

static uint32_t hash_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

dn_keytab_t *dn_keytab_new(void)
{
    dn_keytab_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->n_slots = 16;
    t->slots = calloc((size_t)t->n_slots, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void dn_keytab_destroy(dn_keytab_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_keytab_t *t = *self_p;
    for (int i = 0; i < t->n; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->slots);
    free(t);
    *self_p = NULL;
}

int dn_keytab_count(const dn_keytab_t *self)
{
    return self->n;
}

/* The slot holding key, or the empty slot where it would go. */
static int slot_of(const dn_keytab_t *t, const char *key)
{
    int mask = t->n_slots - 1;
    int s = (int)(hash_of(key) & (uint32_t)mask);
    while (t->slots[s] && strcmp(t->keys[t->slots[s] - 1], key))
        s = (s + 1) & mask;
    return s;
}

int dn_keytab_find(const dn_keytab_t *self, const char *key)
{
    int s = slot_of(self, key);
    return self->slots[s] - 1;
}

static int grow_slots(dn_keytab_t *t)
{
    int n_slots = t->n_slots * 2;
    int *slots = calloc((size_t)n_slots, sizeof *slots);
    if (!slots)
        return DN_ENOMEM;
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    for (int i = 0; i < t->n; i++)
        t->slots[slot_of(t, t->keys[i])] = i + 1;
    return 0;
}

int dn_keytab_add(dn_keytab_t *self, const char *key)
{
    int s = slot_of(self, key);
    if (self->slots[s])
        return self->slots[s] - 1;
    if (self->n == self->cap_keys) {
        int cap = self->cap_keys ? 2 * self->cap_keys : 8;
        char **keys = realloc(self->keys, (size_t)cap * sizeof *keys);
        if (!keys)
            return DN_ENOMEM;
        self->keys = keys;
        self->cap_keys = cap;
    }
    if (2 * (self->n + 1) > self->n_slots) {
        if (grow_slots(self))
            return DN_ENOMEM;
        s = slot_of(self, key);
    }
    char *copy = strdup(key);
    if (!copy)
        return DN_ENOMEM;
    self->keys[self->n] = copy;
    self->slots[s] = ++self->n;
    return self->n - 1;
}

const char *dn_keytab_key(const dn_keytab_t *self, int i)
{
    return i >= 0 && i < self->n ? self->keys[i] : NULL;
}

/* Empties slot s and shifts later members of its probe run back, so every
 * key stays reachable from its home slot without tombstones. */
static void slot_clear(dn_keytab_t *t, int s)
{
    int mask = t->n_slots - 1;
    t->slots[s] = 0;
    for (int j = (s + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        int home = (int)(hash_of(t->keys[t->slots[j] - 1]) & (uint32_t)mask);
        /* j's entry may move into s unless its home lies cyclically in (s, j]. */
        int in_between = s <= j ? (home > s && home <= j) : (home > s || home <= j);
        if (in_between)
            continue;
        t->slots[s] = t->slots[j];
        t->slots[j] = 0;
        s = j;
    }
}

int dn_keytab_remove(dn_keytab_t *self, int i)
{
    if (i < 0 || i >= self->n)
        return -1;
    slot_clear(self, slot_of(self, self->keys[i]));
    free(self->keys[i]);
    int last = self->n - 1;
    if (i != last) {
        self->keys[i] = self->keys[last];
        self->slots[slot_of(self, self->keys[i])] = i + 1;
    }
    self->n--;
    return last;
}
