/* room.h: room for one more element in a growable array, the idiom every
 * table of dinamo repeats (an array, its count and its capacity): the
 * capacity doubles (from 16), so n appends cost O(n) copies in all.
 * Header-only.
 *
 *     item_t *p = dn_room(q->items, &q->cap, q->n, sizeof *p);
 *     if (!p)
 *         return DN_ENOMEM;
 *     q->items = p;
 *     q->items[q->n++] = item;
 *
 * Thread rules: none of its own (the array is the caller's). */
#ifndef DN_ROOM_H
#define DN_ROOM_H

#include <stddef.h>
#include <stdlib.h>

/* arr (*cap elements of size bytes, n of them used), or, when n == *cap, a
 * larger copy (realloc: arr is then no longer valid) with *cap updated.
 * NULL when out of memory: arr and *cap are unchanged and still the
 * caller's. */
static inline void *dn_room(void *arr, int *cap, int n, size_t size)
{
    if (n < *cap)
        return arr;
    int c = *cap ? 2 * *cap : 16;
    void *p = realloc(arr, (size_t)c * size);
    if (p)
        *cap = c;
    return p;
}

#endif
