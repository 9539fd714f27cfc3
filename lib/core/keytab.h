/* keytab.h: a hashed table of histogram keys (or any strings), each given a
 * dense index 0, 1, 2, ... in the order it was added.
 *
 * The services keep per-key state in arrays; a run names its histograms by
 * key, and an LHCb-scale run holds thousands of them, so finding a key must
 * not cost a scan of every key (which made each run cost the square of its
 * histogram count). A key's index is the position of its state in the
 * caller's array. Removing a key moves the last key into the freed index
 * (dn_keytab_remove says which), so indices stay dense and the caller moves
 * its array element the same way.
 *
 * Open addressing with linear probing over a power-of-two slot array kept at
 * most half full; FNV-1a hashes. Keys are copied.
 *
 * Thread rules: a table belongs to one thread; lookups from several threads
 * are fine while nobody adds or removes. Ownership: the table owns its key
 * copies; dn_keytab_key's pointer is valid until that key is removed or the
 * table destroyed. */
#ifndef DN_KEYTAB_H
#define DN_KEYTAB_H

typedef struct dn_keytab_t dn_keytab_t;

/* A new empty table, or NULL when out of memory. Caller owns it. */
dn_keytab_t *dn_keytab_new(void);

/* Frees *self_p and its key copies; accepts NULL and *self_p NULL; nulls it. */
void dn_keytab_destroy(dn_keytab_t **self_p);

/* Number of keys. */
int dn_keytab_count(const dn_keytab_t *self);

/* The index of key, or -1 when absent. */
int dn_keytab_find(const dn_keytab_t *self, const char *key);

/* Adds key with index dn_keytab_count() unless present. Returns its index
 * (>= 0; the existing one when it was there: check the count to tell), or
 * DN_ENOMEM (nothing added). */
int dn_keytab_add(dn_keytab_t *self, const char *key);

/* The key of index i (0 <= i < count), or NULL when out of range. */
const char *dn_keytab_key(const dn_keytab_t *self, int i);

/* Removes the key of index i: the last key (index count - 1) takes index i.
 * Returns the index that moved into i (count - 1 before the call; equal to i
 * when the last key itself was removed), or -1 when i is out of range. */
int dn_keytab_remove(dn_keytab_t *self, int i);

#endif
