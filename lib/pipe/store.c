/* store.c: LMDB-backed persistent state of a service (see store.h).
 *
 * Every write is a batch of operations replayed inside one write transaction:
 * that is what makes "grow the map and retry" possible (LMDB cannot resume a
 * transaction that hit MDB_MAP_FULL; it must be aborted and redone with a
 * bigger map, which mdb_env_set_mapsize only allows with no transaction open
 * in this process). Single-operation functions are one-operation batches.
 *
 * Table handles are opened by name inside each transaction; mdb_dbi_open
 * returns the already-open handle of a name without touching the database, so
 * no handle cache is needed, and a handle opened in an aborted transaction
 * never leaks into later ones. Read transactions are ended with commit (not
 * abort) so that handles they opened stay valid for the environment.
 *
 * Invariants: weights keys are hkey NUL BE64(version); log keys are
 * BE64(run ^ 2^63) BE32(index); a checkpoint "name" has its sequence state
 * under "name\0seq" or none at all. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bytes.h"
#include "fileio.h"

#define TABLE_NAME_MAX 128
#define WEIGHTS_TABLE "dn.weights"
#define CHECKPOINT_TABLE "dn.checkpoint"
#define SEQ_SUFFIX "\0seq"
#define SEQ_SUFFIX_LEN 4
#define MAX_ATTEMPTS 40
#define MAX_DBS 64

/* Free bytes on the filesystem below which a short write (LMDB reports it
 * as EIO) is taken for a full disk. */
#define SHORT_WRITE_FREE_MAX (4u << 20)

struct dn_store_t {
    MDB_env *env;
    char *dir;
    int readonly;
    uint64_t growths;
    size_t map_max;   /* the map grows at most to this (0: no limit of ours) */
    int broken;       /* a failed map growth unmapped the environment: no more use */
};

/* ---- helpers ----------------------------------------------------------- */

static int lmdb_error(const dn_store_t *self, dn_err_t *err, const char *what, int rc)
{
    if (self->broken)
        return dn_err_set(err, DN_EIO, "store %s: %s: unusable since its map failed to grow "
                          "(restart the service)", self->dir, what);
    return dn_err_set(err, DN_EIO, "store %s: %s: %s", self->dir, what, mdb_strerror(rc));
}


static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void log_key(uint8_t key[12], int64_t run, uint32_t index)
{
    dn_put_be64(key, (uint64_t)run ^ (1ull << 63));
    be32(key + 8, index);
}

static int check_table(const char *table)
{
    size_t n = table ? strnlen(table, TABLE_NAME_MAX + 1) : 0;
    return n >= 1 && n <= TABLE_NAME_MAX ? 0 : DN_EINVAL;
}

static int check_name(const char *name)
{
    size_t n = name ? strnlen(name, DN_MSG_KEY_MAX + 1) : 0;
    return n >= 1 && n <= DN_MSG_KEY_MAX ? 0 : DN_EINVAL;
}

static int is_reserved(const char *table)
{
    return strncmp(table, "dn.", 3) == 0;
}

/* Begins a transaction, adopting a map grown by another process. */
static int txn_begin(dn_store_t *self, unsigned flags, MDB_txn **txn)
{
    int rc = 0;
    if (self->broken)
        return ENOTRECOVERABLE;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        rc = mdb_txn_begin(self->env, NULL, flags, txn);
        if (rc != MDB_MAP_RESIZED)
            return rc;
        if ((rc = mdb_env_set_mapsize(self->env, 0)))
            return rc;
    }
    return rc;
}

/* Opens table in a read transaction: MDB_NOTFOUND when it does not exist. */
static int open_read(dn_store_t *self, const char *table, MDB_txn **txn, MDB_dbi *dbi)
{
    int rc = txn_begin(self, MDB_RDONLY, txn);
    if (rc)
        return rc;
    if ((rc = mdb_dbi_open(*txn, table, 0, dbi))) {
        mdb_txn_abort(*txn);
        *txn = NULL;
    }
    return rc;
}

/* Ends a read transaction; commit keeps table handles it opened. */
static void end_read(MDB_txn *txn)
{
    /* A read-only commit only releases the snapshot: nothing to report. */
    if (txn)
        (void)mdb_txn_commit(txn);
}

static int copy_out(const MDB_val *v, void **out, size_t *len)
{
    uint8_t *b = malloc(v->mv_size + 1);
    if (!b)
        return DN_ENOMEM;
    memcpy(b, v->mv_data, v->mv_size);
    b[v->mv_size] = '\0';
    *out = b;
    if (len)
        *len = v->mv_size;
    return 0;
}

/* ---- checks before mapping --------------------------------------------- */

/* LMDB 0.9's file layout (mdb.c), read before mdb_env_open maps the files:
 * LMDB trusts its meta pages, so a data.mdb cut short maps pages that are not
 * there (SIGBUS at the first read) and garbage where a tree should be is
 * followed as one. These checks catch what can be seen without walking the
 * trees: the two meta pages (flags, magic, version, page size), a file
 * shorter than its last commit, a root that is not a tree page. Offsets are
 * for LP64 builds (pgno_t and txnid_t are 8 bytes). */
_Static_assert(sizeof(size_t) == 8, "the LMDB layout offsets below are for 64-bit builds");
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_DATA_VERSION 1u
#define LMDB_P_BRANCH 0x01u
#define LMDB_P_LEAF 0x02u
#define LMDB_P_META 0x08u
#define LMDB_P_INVALID UINT64_MAX
#define PG_PGNO 0       /* page header: page number (8), pad (2), flags (2), ... */
#define PG_FLAGS 10
#define META_MAGIC 16   /* meta page: magic (4), version (4), address, map size, */
#define META_VERSION 20 /* the free and main tables' MDB_db (48 bytes each), */
#define META_PSIZE 40   /* the last page, the transaction id */
#define META_ROOT_FREE 80
#define META_ROOT_MAIN 128
#define META_LAST_PG 136
#define META_TXNID 144
#define META_BYTES 152
#define LMDB_PSIZE_MIN 512u
#define LMDB_PSIZE_MAX 65536u

typedef struct meta_t {
    uint64_t last_pg, txnid, root[2];
    uint32_t psize;
} meta_t;

/* LMDB writes its fields in the machine's own byte order. */
static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Reads n bytes at off; 0, or the errno (EIO-like ENODATA for a short file). */
static int read_at(int fd, void *buf, size_t n, off_t off)
{
    ssize_t got = pread(fd, buf, n, off);
    return got < 0 ? errno : (size_t)got < n ? ENODATA : 0;
}

/* Meta page i of data.mdb (psize: the page size meta 0 gave; 0 for meta 0). */
static int read_meta(const dn_store_t *self, const char *file, int fd, int i, uint32_t psize,
                     meta_t *m, dn_err_t *err)
{
    uint8_t b[META_BYTES];
    int rc = read_at(fd, b, sizeof b, (off_t)i * psize);
    if (rc)
        return dn_err_set(err, DN_EFORMAT, "store %s: %s: cannot read meta page %d: %s",
                          self->dir, file, i, rc == ENODATA ? "truncated" : strerror(rc));
    uint32_t magic = get32(b + META_MAGIC), version = get32(b + META_VERSION);
    if (!(get16(b + PG_FLAGS) & LMDB_P_META) || magic != LMDB_MAGIC)
        return dn_err_set(err, DN_EFORMAT, "store %s: %s: not an LMDB data file (meta page %d: "
                          "flags 0x%x, magic 0x%08x, want 0x%08x)", self->dir, file, i,
                          get16(b + PG_FLAGS), magic, LMDB_MAGIC);
    if (version != LMDB_DATA_VERSION)
        return dn_err_set(err, DN_EFORMAT, "store %s: %s: LMDB data format %u (meta page %d), "
                          "this build reads %u", self->dir, file, version, i,
                          LMDB_DATA_VERSION);
    m->psize = get32(b + META_PSIZE);
    m->root[0] = get64(b + META_ROOT_FREE);
    m->root[1] = get64(b + META_ROOT_MAIN);
    m->last_pg = get64(b + META_LAST_PG);
    m->txnid = get64(b + META_TXNID);
    if (m->psize < LMDB_PSIZE_MIN || m->psize > LMDB_PSIZE_MAX || (m->psize & (m->psize - 1)) ||
        (i == 1 && m->psize != psize))
        return dn_err_set(err, DN_EFORMAT, "store %s: %s: damaged meta page %d: page size %u",
                          self->dir, file, i, m->psize);
    return 0;
}

/* The checks of data.mdb (open as fd) against its newest commit, once;
 * that commit's transaction id into *txnid. */
static int check_data_once(const dn_store_t *self, int fd, uint64_t *txnid, dn_err_t *err)
{
    const char *file = "data.mdb";
    meta_t m[2];
    struct stat st;
    int rc = read_meta(self, file, fd, 0, 0, &m[0], err);
    if (rc)
        return rc;
    if (fstat(fd, &st))
        return dn_err_set(err, DN_EIO, "store %s: %s: %s", self->dir, file, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    if (size < 2ull * m[0].psize)
        return dn_err_set(err, DN_EFORMAT, "store %s: %s: truncated: %llu bytes, less than its "
                          "two meta pages of %u", self->dir, file, (unsigned long long)size,
                          m[0].psize);
    if ((rc = read_meta(self, file, fd, 1, m[0].psize, &m[1], err)))
        return rc;
    const meta_t *cur = &m[m[0].txnid < m[1].txnid];
    *txnid = cur->txnid;
    /* The file only grows: its size now covers every commit up to cur. */
    if (fstat(fd, &st))
        return dn_err_set(err, DN_EIO, "store %s: %s: %s", self->dir, file, strerror(errno));
    size = (uint64_t)st.st_size;
    uint64_t need = cur->last_pg < UINT64_MAX / cur->psize - 1 ? (cur->last_pg + 1) * cur->psize
                                                               : UINT64_MAX;
    if (cur->last_pg < 1 || cur->last_pg >= size / cur->psize)
        return dn_err_set(err, DN_EFORMAT, "store %s: %s: truncated: %llu bytes, its last "
                          "commit (transaction %llu) needs %llu", self->dir, file,
                          (unsigned long long)size, (unsigned long long)cur->txnid,
                          (unsigned long long)need);
    for (int t = 0; t < 2; t++) {
        uint64_t root = cur->root[t];
        if (root == LMDB_P_INVALID)
            continue;
        uint8_t h[16];
        int bad = root < 2 || root > cur->last_pg ||
                  read_at(fd, h, sizeof h, (off_t)(root * cur->psize)) ||
                  get64(h + PG_PGNO) != root ||
                  !(get16(h + PG_FLAGS) & (LMDB_P_BRANCH | LMDB_P_LEAF));
        if (bad)
            return dn_err_set(err, DN_EFORMAT, "store %s: %s: damaged: the root of its %s table "
                              "(page %llu of %llu, transaction %llu) is not a tree page",
                              self->dir, file, t ? "main" : "free", (unsigned long long)root,
                              (unsigned long long)cur->last_pg + 1,
                              (unsigned long long)cur->txnid);
    }
    return 0;
}

/* data.mdb: absent or empty (a new environment), or both meta pages sound and
 * the commit LMDB will use (the higher transaction id) inside the file. A
 * writer of another process may commit meanwhile (and reuse the pages of the
 * commit just read): a failed check is believed only when the newest commit
 * is the same before and after it. */
static int check_data_file(const dn_store_t *self, dn_err_t *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/data.mdb", self->dir) >= (int)sizeof path)
        return dn_err_set(err, DN_EINVAL, "store %s: path too long", self->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : dn_err_set(err, DN_EIO, "store %s: data.mdb: %s",
                                                self->dir, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) ? dn_err_set(err, DN_EIO, "store %s: data.mdb: %s", self->dir,
                                         strerror(errno)) : 0;
    for (int attempt = 0; !rc && st.st_size > 0; attempt++) {
        uint64_t txnid = 0, now = 0;
        if (!(rc = check_data_once(self, fd, &txnid, err)))
            break;
        dn_err_t again = {0};
        if (!check_data_once(self, fd, &now, &again))
            rc = 0; /* passes now: a commit came in between */
        else if (now != txnid && attempt < 4)
            rc = 0; /* another commit: look again */
        else
            break;  /* the same commit fails twice: damaged */
    }
    close(fd);
    return rc;
}

/* lock.mdb: LMDB rebuilds it when no process has it open (reader slots of a
 * dead process or of another host, a lock file of another build), so only
 * bytes that LMDB never writes there are refused: a magic that is neither
 * LMDB's nor zero (a file being initialised). */
static int check_lock_file(const dn_store_t *self, dn_err_t *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/lock.mdb", self->dir) >= (int)sizeof path)
        return dn_err_set(err, DN_EINVAL, "store %s: path too long", self->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : dn_err_set(err, DN_EIO, "store %s: lock.mdb: %s",
                                                self->dir, strerror(errno));
    uint8_t b[4];
    int short_file = read_at(fd, b, sizeof b, 0);
    close(fd);
    uint32_t magic = short_file ? 0 : get32(b);
    if (magic == 0 || magic == LMDB_MAGIC)
        return 0;
    return dn_err_set(err, DN_EFORMAT, "store %s: lock.mdb: not an LMDB lock file (magic "
                      "0x%08x, want 0x%08x): if no process uses this store, remove lock.mdb",
                      self->dir, magic, LMDB_MAGIC);
}

/* ---- open / close ------------------------------------------------------ */

dn_store_t *dn_store_open(const char *dir, int flags, size_t map_size, dn_err_t *err)
{
    dn_store_t *self = NULL;
    int rc;
    if (!dir || !dir[0]) {
        dn_err_set(err, DN_EINVAL, "store: empty directory name");
        return NULL;
    }
    if (!(self = calloc(1, sizeof *self)) || !(self->dir = strdup(dir))) {
        dn_err_set(err, DN_ENOMEM, "store %s: out of memory", dir);
        goto fail;
    }
    self->readonly = (flags & DN_STORE_READONLY) != 0;
    if (!self->readonly && dn_mkdirs(dir, err))
        goto fail;
    if (check_data_file(self, err) || check_lock_file(self, err))
        goto fail;
    if ((rc = mdb_env_create(&self->env))) {
        lmdb_error(self, err, "create environment", rc);
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(self->env, MAX_DBS)) ||
        (rc = mdb_env_set_mapsize(self->env, map_size ? map_size : DN_STORE_MAP_DEFAULT))) {
        lmdb_error(self, err, "configure environment", rc);
        goto fail;
    }
    unsigned env_flags = self->readonly ? MDB_RDONLY : (flags & DN_STORE_NOSYNC) ? MDB_NOSYNC : 0;
    if ((rc = mdb_env_open(self->env, dir, env_flags, 0666))) {
        /* data.mdb passed its checks: a layout LMDB refuses is the lock
         * file's, which LMDB only reads when another process has it open. */
        if (rc == MDB_VERSION_MISMATCH || rc == MDB_INVALID)
            dn_err_set(err, DN_EFORMAT, "store %s: lock.mdb: in use by a process with another "
                       "lock layout (another LMDB build?): %s", dir, mdb_strerror(rc));
        else
            lmdb_error(self, err, "open", rc);
        goto fail;
    }
    int dead = 0;
    if ((rc = mdb_reader_check(self->env, &dead))) {
        lmdb_error(self, err, "reader check", rc);
        goto fail;
    }
    return self;
fail:
    dn_store_destroy(&self);
    return NULL;
}

int dn_store_sync(dn_store_t *self, dn_err_t *err)
{
    if (self->readonly)
        return 0;
    if (self->broken)
        return lmdb_error(self, err, "sync", 0);
    int rc = mdb_env_sync(self->env, 1);
    if (rc)
        return lmdb_error(self, err, "sync", rc);
    return 0;
}

void dn_store_destroy(dn_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_store_t *self = *self_p;
    if (self->env)
        mdb_env_close(self->env);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

size_t dn_store_map_size(const dn_store_t *self)
{
    MDB_envinfo info;
    if (self->broken || mdb_env_info(self->env, &info))
        return 0;
    return info.me_mapsize;
}

uint64_t dn_store_growths(const dn_store_t *self)
{
    return self->growths;
}

void dn_store_set_map_max(dn_store_t *self, size_t max_bytes)
{
    self->map_max = max_bytes;
}

/* ---- batches ----------------------------------------------------------- */

enum { OP_PUT, OP_DEL, OP_WEIGHTS, OP_CHECKPOINT, OP_LOG, OP_CAS };

typedef struct op_t {
    int kind;
    char *table;
    uint8_t *key;   /* OP_WEIGHTS: hkey NUL BE64(version); OP_CHECKPOINT: name */
    size_t klen;
    uint8_t *val;
    size_t vlen;
    uint8_t *extra; /* OP_CHECKPOINT: saved sequence state or NULL */
    size_t extra_len;
    int64_t run;    /* OP_LOG */
    int keep;       /* OP_WEIGHTS: versions to keep; OP_DEL: 1 = absent key is an error;
                     * OP_CAS: 1 = the key must be absent (else extra is the expected value) */
    uint32_t *index_out; /* OP_LOG from dn_store_log_append */
} op_t;

struct dn_store_batch_t {
    op_t *ops;
    size_t n, cap;
};

dn_store_batch_t *dn_store_batch_new(void)
{
    return calloc(1, sizeof(dn_store_batch_t));
}

static void op_free(op_t *op)
{
    free(op->table);
    free(op->key);
    free(op->val);
    free(op->extra);
}

void dn_store_batch_clear(dn_store_batch_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        op_free(&self->ops[i]);
    self->n = 0;
}

void dn_store_batch_destroy(dn_store_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dn_store_batch_clear(*self_p);
    free((*self_p)->ops);
    free(*self_p);
    *self_p = NULL;
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (b && n)
        memcpy(b, p, n);
    return b;
}

/* Appends op (taking its allocations; on failure frees them). */
static int push(dn_store_batch_t *self, op_t *op)
{
    int ok = op->table && op->key && (op->val || op->kind == OP_DEL) &&
             (op->extra || !op->extra_len);
    if (ok && self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 8;
        op_t *ops = realloc(self->ops, cap * sizeof *ops);
        if (ops) {
            self->ops = ops;
            self->cap = cap;
        } else {
            ok = 0;
        }
    }
    if (!ok) {
        op_free(op);
        return DN_ENOMEM;
    }
    self->ops[self->n++] = *op;
    return 0;
}

int dn_store_batch_put(dn_store_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *val, size_t vlen)
{
    if (check_table(table) || is_reserved(table) || !key || klen == 0 ||
        klen > DN_STORE_KEY_MAX || (!val && vlen))
        return DN_EINVAL;
    op_t op = {.kind = OP_PUT, .table = strdup(table), .key = dup_bytes(key, klen),
               .klen = klen, .val = dup_bytes(val, vlen), .vlen = vlen};
    return push(self, &op);
}

int dn_store_batch_cas(dn_store_batch_t *self, const char *table, const void *key, size_t klen,
                       const void *expect, size_t expect_len, const void *val, size_t vlen)
{
    if (check_table(table) || is_reserved(table) || !key || klen == 0 ||
        klen > DN_STORE_KEY_MAX || (!val && vlen))
        return DN_EINVAL;
    op_t op = {.kind = OP_CAS, .table = strdup(table), .key = dup_bytes(key, klen),
               .klen = klen, .val = dup_bytes(val, vlen), .vlen = vlen, .keep = !expect};
    if (expect) {
        op.extra = dup_bytes(expect, expect_len);
        op.extra_len = expect_len;
        if (!op.extra) {
            op_free(&op);
            return DN_ENOMEM;
        }
    }
    return push(self, &op);
}

int dn_store_batch_del(dn_store_batch_t *self, const char *table, const void *key, size_t klen)
{
    if (check_table(table) || is_reserved(table) || !key || klen == 0 || klen > DN_STORE_KEY_MAX)
        return DN_EINVAL;
    op_t op = {.kind = OP_DEL, .table = strdup(table), .key = dup_bytes(key, klen),
               .klen = klen};
    return push(self, &op);
}

int dn_store_batch_weights(dn_store_batch_t *self, const char *hkey, uint64_t version,
                           const void *blob, size_t len, int keep_last)
{
    if (check_name(hkey) || (!blob && len) || keep_last < 0)
        return DN_EINVAL;
    size_t n = strlen(hkey);
    uint8_t *key = malloc(n + 9);
    if (key) {
        memcpy(key, hkey, n + 1);
        dn_put_be64(key + n + 1, version);
    }
    op_t op = {.kind = OP_WEIGHTS, .table = strdup(WEIGHTS_TABLE), .key = key, .klen = n + 9,
               .val = dup_bytes(blob, len), .vlen = len, .keep = keep_last};
    return push(self, &op);
}

int dn_store_batch_checkpoint(dn_store_batch_t *self, const char *name, const void *blob,
                              size_t len, const dn_seq_tracker_t *seq)
{
    if (check_name(name) || (!blob && len))
        return DN_EINVAL;
    op_t op = {.kind = OP_CHECKPOINT, .table = strdup(CHECKPOINT_TABLE),
               .key = dup_bytes(name, strlen(name)), .klen = strlen(name),
               .val = dup_bytes(blob, len), .vlen = len};
    if (seq && dn_seq_tracker_save(seq, &op.extra, &op.extra_len)) {
        op_free(&op);
        return DN_ENOMEM;
    }
    return push(self, &op);
}

int dn_store_batch_log_append(dn_store_batch_t *self, const char *table, int64_t run,
                              const void *val, size_t vlen)
{
    if (check_table(table) || is_reserved(table) || (!val && vlen))
        return DN_EINVAL;
    op_t op = {.kind = OP_LOG, .table = strdup(table), .key = dup_bytes("", 1), .klen = 0,
               .val = dup_bytes(val, vlen), .vlen = vlen, .run = run};
    return push(self, &op);
}

/* Deletes all but the keep highest versions under prefix (hkey NUL). */
static int prune(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen, int keep)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k = {plen, (void *)prefix}, v;
    size_t n = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, prefix, plen) == 0) {
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc && rc != MDB_NOTFOUND)
        goto done;
    rc = 0;
    /* Oldest first: each round re-seeks the lowest remaining version. */
    for (size_t i = 0; i + (size_t)keep < n; i++) {
        k.mv_size = plen;
        k.mv_data = (void *)prefix;
        if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) || (rc = mdb_cursor_del(cur, 0)))
            break;
    }
done:
    mdb_cursor_close(cur);
    return rc;
}

/* Next free index of run in a log table. */
static int log_next_index(MDB_txn *txn, MDB_dbi dbi, int64_t run, uint32_t *index)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    uint8_t target[12];
    log_key(target, run, UINT32_MAX);
    MDB_val k = {12, target}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == 12 && memcmp(k.mv_data, target, 12) == 0) {
        rc = DN_ERANGE; /* 2^32 records for one run */
        goto done;
    }
    rc = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    if (rc == 0 && k.mv_size == 12 && memcmp(k.mv_data, target, 8) == 0)
        *index = get_be32((const uint8_t *)k.mv_data + 8) + 1;
    else if (rc == 0 || rc == MDB_NOTFOUND)
        *index = 0;
    if (rc == MDB_NOTFOUND)
        rc = 0;
done:
    mdb_cursor_close(cur);
    return rc;
}

/* One operation inside the write transaction; LMDB or DN codes. */
static int exec_op(MDB_txn *txn, const op_t *op)
{
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, op->table, MDB_CREATE, &dbi);
    if (rc)
        return rc;
    MDB_val k = {op->klen, op->key}, v = {op->vlen, op->val};
    switch (op->kind) {
    case OP_PUT:
        return mdb_put(txn, dbi, &k, &v, 0);
    case OP_DEL:
        rc = mdb_del(txn, dbi, &k, NULL);
        return rc == MDB_NOTFOUND ? (op->keep ? DN_ENOTFOUND : 0) : rc;
    case OP_WEIGHTS:
        if ((rc = mdb_put(txn, dbi, &k, &v, 0)))
            return rc;
        return op->keep > 0 ? prune(txn, dbi, op->key, op->klen - 8, op->keep) : 0;
    case OP_CHECKPOINT: {
        if ((rc = mdb_put(txn, dbi, &k, &v, 0)))
            return rc;
        uint8_t sk[DN_MSG_KEY_MAX + SEQ_SUFFIX_LEN];
        memcpy(sk, op->key, op->klen);
        memcpy(sk + op->klen, SEQ_SUFFIX, SEQ_SUFFIX_LEN);
        MDB_val skv = {op->klen + SEQ_SUFFIX_LEN, sk}, sv = {op->extra_len, op->extra};
        if (op->extra)
            return mdb_put(txn, dbi, &skv, &sv, 0);
        rc = mdb_del(txn, dbi, &skv, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    case OP_CAS: {
        MDB_val cur;
        rc = mdb_get(txn, dbi, &k, &cur);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        int same = op->keep ? rc == MDB_NOTFOUND
                            : rc == 0 && cur.mv_size == op->extra_len &&
                                  (!cur.mv_size || !memcmp(cur.mv_data, op->extra, cur.mv_size));
        return same ? mdb_put(txn, dbi, &k, &v, 0) : DN_ESTATE;
    }
    case OP_LOG: {
        uint32_t index = 0;
        if ((rc = log_next_index(txn, dbi, op->run, &index)))
            return rc;
        uint8_t key[12];
        log_key(key, op->run, index);
        MDB_val lk = {12, key};
        if ((rc = mdb_put(txn, dbi, &lk, &v, MDB_NOOVERWRITE)))
            return rc;
        if (op->index_out)
            *op->index_out = index;
        return 0;
    }
    default:
        return DN_EINVAL;
    }
}

static const char *op_name(int kind)
{
    switch (kind) {
    case OP_PUT: return "put";
    case OP_DEL: return "delete";
    case OP_WEIGHTS: return "weights put";
    case OP_CHECKPOINT: return "checkpoint";
    case OP_CAS: return "compare-and-swap";
    default: return "log append";
    }
}

/* Doubles the map (at most to map_max). Returns 0; DN_ENOSPACE with the
 * reason in what[cap] when it may not or cannot grow (map_max reached, no
 * address space for the bigger map: checked with a reservation first, since
 * a failed mdb_env_set_mapsize leaves the environment unmapped); or, if the
 * growth itself failed after all, the LMDB error with the store broken. */
static int grow_map(dn_store_t *self, char *what, size_t cap)
{
    size_t size = dn_store_map_size(self), want = size <= SIZE_MAX / 2 ? 2 * size : SIZE_MAX;
    if (self->map_max && want > self->map_max)
        want = self->map_max;
    if (size == 0 || want <= size) {
        snprintf(what, cap, "map full (%zu bytes, the most it may grow to)", size);
        return DN_ENOSPACE;
    }
    void *probe = mmap(NULL, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED) {
        snprintf(what, cap, "map full (%zu bytes; no address space to grow to %zu: %s)", size,
                 want, strerror(errno));
        return DN_ENOSPACE;
    }
    munmap(probe, want);
    int rc = mdb_env_set_mapsize(self->env, want);
    if (rc) {
        self->broken = 1;
        snprintf(what, cap, "grow map from %zu to %zu bytes", size, want);
        return rc;
    }
    self->growths++;
    return 0;
}

/* 1 when LMDB's error rc while applying a batch means no room on the disk,
 * with the reason in what[cap]: ENOSPC, EDQUOT, EFBIG (a file size limit);
 * or EIO from the commit (LMDB's word for a short write) when the filesystem
 * is nearly full or data.mdb is at the process's file size limit. */
static int is_out_of_space(const dn_store_t *self, int rc, char *what, size_t cap)
{
    if (rc == ENOSPC || rc == EDQUOT) {
        snprintf(what, cap, "disk full (%s)", strerror(rc));
        return 1;
    }
    if (rc == EFBIG) {
        snprintf(what, cap, "file size limit reached (%s)", strerror(rc));
        return 1;
    }
    if (rc != EIO || strcmp(what, "commit") != 0)
        return 0;
    struct statvfs fs;
    if (statvfs(self->dir, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < SHORT_WRITE_FREE_MAX) {
        snprintf(what, cap, "disk full (short write, %llu bytes free)",
                 (unsigned long long)fs.f_bavail * fs.f_frsize);
        return 1;
    }
    char path[4096];
    struct stat st;
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
        snprintf(path, sizeof path, "%s/data.mdb", self->dir) < (int)sizeof path &&
        stat(path, &st) == 0 && (uint64_t)st.st_size + SHORT_WRITE_FREE_MAX >= lim.rlim_cur) {
        snprintf(what, cap, "file size limit reached (short write, data.mdb %llu bytes, "
                 "limit %llu)", (unsigned long long)st.st_size,
                 (unsigned long long)lim.rlim_cur);
        return 1;
    }
    return 0;
}

int dn_store_apply(dn_store_t *self, const dn_store_batch_t *batch, dn_err_t *err)
{
    if (self->readonly)
        return dn_err_set(err, DN_EINVAL, "store %s: opened read-only", self->dir);
    char what[TABLE_NAME_MAX + 64] = "begin";
    int rc = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        MDB_txn *txn = NULL;
        snprintf(what, sizeof what, "begin write");
        if ((rc = txn_begin(self, 0, &txn)))
            break;
        for (size_t i = 0; i < batch->n && !rc; i++) {
            rc = exec_op(txn, &batch->ops[i]);
            if (rc)
                snprintf(what, sizeof what, "table '%s': %s", batch->ops[i].table,
                         op_name(batch->ops[i].kind));
        }
        if (rc) {
            mdb_txn_abort(txn);
        } else {
            snprintf(what, sizeof what, "commit");
            rc = mdb_txn_commit(txn);
        }
        if (rc != MDB_MAP_FULL)
            break;
        /* No transaction of ours is open now: grow and replay. */
        if ((rc = grow_map(self, what, sizeof what)))
            break;
        rc = MDB_MAP_FULL;
    }
    if (rc == DN_ENOSPACE)
        return dn_err_set(err, rc, "store %s: %s while committing", self->dir, what);
    if (rc && is_out_of_space(self, rc, what, sizeof what))
        return dn_err_set(err, DN_ENOSPACE, "store %s: %s while committing", self->dir, what);
    if (rc == DN_ERANGE)
        return dn_err_set(err, DN_EIO, "store %s: %s: 2^32 records for one run", self->dir, what);
    if (rc == DN_ENOTFOUND)
        return dn_err_set(err, rc, "store %s: %s: key not found", self->dir, what);
    if (rc <= DN_ENOMEM && rc >= DN_EMISMATCH)
        return dn_err_set(err, rc, "store %s: %s: %s", self->dir, what, dn_strerror(rc));
    if (rc)
        return lmdb_error(self, err, what, rc);
    return 0;
}

/* Runs a one-operation batch. */
static int apply_one(dn_store_t *self, dn_store_batch_t *b, int add_rc, dn_err_t *err)
{
    int rc = add_rc;
    if (rc)
        rc = dn_err_set(err, rc, "store %s: %s", self->dir,
                        rc == DN_EINVAL ? "invalid table, key or value" : "out of memory");
    else
        rc = dn_store_apply(self, b, err);
    dn_store_batch_clear(b);
    return rc;
}

#define ONE_OP(call)                                                            \
    do {                                                                        \
        dn_store_batch_t b = {0};                                               \
        int rc_ = apply_one(self, &b, (call), err);                             \
        free(b.ops);                                                            \
        return rc_;                                                             \
    } while (0)

int dn_store_put(dn_store_t *self, const char *table, const void *key, size_t klen,
                 const void *val, size_t vlen, dn_err_t *err)
{
    ONE_OP(dn_store_batch_put(&b, table, key, klen, val, vlen));
}

int dn_store_cas(dn_store_t *self, const char *table, const void *key, size_t klen,
                 const void *expect, size_t expect_len, const void *val, size_t vlen,
                 dn_err_t *err)
{
    ONE_OP(dn_store_batch_cas(&b, table, key, klen, expect, expect_len, val, vlen));
}

int dn_store_weights_put(dn_store_t *self, const char *hkey, uint64_t version, const void *blob,
                         size_t len, int keep_last, dn_err_t *err)
{
    ONE_OP(dn_store_batch_weights(&b, hkey, version, blob, len, keep_last));
}

int dn_store_checkpoint_write(dn_store_t *self, const char *name, const void *blob, size_t len,
                              const dn_seq_tracker_t *seq, dn_err_t *err)
{
    ONE_OP(dn_store_batch_checkpoint(&b, name, blob, len, seq));
}

int dn_store_log_append(dn_store_t *self, const char *table, int64_t run, const void *val,
                        size_t vlen, uint32_t *index, dn_err_t *err)
{
    dn_store_batch_t b = {0};
    int rc = dn_store_batch_log_append(&b, table, run, val, vlen);
    if (!rc)
        b.ops[0].index_out = index;
    rc = apply_one(self, &b, rc, err);
    free(b.ops);
    return rc;
}

int dn_store_del(dn_store_t *self, const char *table, const void *key, size_t klen,
                 dn_err_t *err)
{
    /* Through the batch path: with copy-on-write pages even a delete can hit
     * MDB_MAP_FULL. `strict` makes an absent key fail the transaction. */
    dn_store_batch_t b = {0};
    int rc = dn_store_batch_del(&b, table, key, klen);
    if (!rc)
        b.ops[0].keep = 1;
    rc = apply_one(self, &b, rc, err);
    free(b.ops);
    if (rc == DN_ENOTFOUND)
        return dn_err_set(err, rc, "store %s: table '%s': key not found", self->dir, table);
    return rc;
}

/* ---- reads ------------------------------------------------------------- */

static int get_in(dn_store_t *self, const char *table, const void *key, size_t klen, void **val,
                  size_t *vlen, dn_err_t *err)
{
    *val = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = open_read(self, table, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        return dn_err_set(err, DN_ENOTFOUND, "store %s: no table '%s'", self->dir, table);
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0)
        rc = copy_out(&v, val, vlen);
    end_read(txn);
    if (rc == MDB_NOTFOUND)
        return dn_err_set(err, DN_ENOTFOUND, "store %s: table '%s': key not found", self->dir,
                          table);
    if (rc == DN_ENOMEM)
        return dn_err_set(err, rc, "store %s: out of memory", self->dir);
    if (rc)
        return lmdb_error(self, err, "get", rc);
    return 0;
}

int dn_store_get(dn_store_t *self, const char *table, const void *key, size_t klen, void **val,
                 size_t *vlen, dn_err_t *err)
{
    *val = NULL;
    if (check_table(table) || !key || klen == 0 || klen > DN_STORE_KEY_MAX)
        return dn_err_set(err, DN_EINVAL, "store %s: invalid table or key", self->dir);
    return get_in(self, table, key, klen, val, vlen, err);
}

int dn_store_foreach(dn_store_t *self, const char *table, const void *from, size_t from_len,
                     dn_store_visit_fn fn, void *arg, dn_err_t *err)
{
    if (check_table(table) || !fn)
        return dn_err_set(err, DN_EINVAL, "store %s: invalid table or visitor", self->dir);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    int rc = open_read(self, table, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        goto done;
    MDB_val k = {from_len, (void *)from}, v;
    rc = mdb_cursor_get(cur, &k, &v, from && from_len ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0) {
        int r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg);
        if (r) {
            rc = r < 0 ? r : 0;
            goto done;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
done:
    if (cur)
        mdb_cursor_close(cur);
    end_read(txn);
    if (rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE))
        return lmdb_error(self, err, "iterate", rc);
    return rc;
}

int dn_store_count(dn_store_t *self, const char *table, uint64_t *n, dn_err_t *err)
{
    *n = 0;
    if (check_table(table))
        return dn_err_set(err, DN_EINVAL, "store %s: invalid table", self->dir);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = open_read(self, table, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    MDB_stat st;
    rc = mdb_stat(txn, dbi, &st);
    end_read(txn);
    if (rc)
        return lmdb_error(self, err, "stat", rc);
    *n = st.ms_entries;
    return 0;
}

/* ---- weights reads ----------------------------------------------------- */

static size_t weights_key(uint8_t *key, const char *hkey, uint64_t version)
{
    size_t n = strlen(hkey);
    memcpy(key, hkey, n + 1);
    dn_put_be64(key + n + 1, version);
    return n + 9;
}

int dn_store_weights_get(dn_store_t *self, const char *hkey, uint64_t version, void **blob,
                         size_t *len, dn_err_t *err)
{
    *blob = NULL;
    if (check_name(hkey))
        return dn_err_set(err, DN_EINVAL, "store %s: invalid histogram key", self->dir);
    uint8_t key[DN_MSG_KEY_MAX + 9];
    size_t klen = weights_key(key, hkey, version);
    int rc = get_in(self, WEIGHTS_TABLE, key, klen, blob, len, err);
    if (rc == DN_ENOTFOUND)
        return dn_err_set(err, rc, "store %s: no weights '%s' version %llu", self->dir, hkey,
                          (unsigned long long)version);
    return rc;
}

int dn_store_weights_latest(dn_store_t *self, const char *hkey, uint64_t *version, void **blob,
                            size_t *len, dn_err_t *err)
{
    if (blob)
        *blob = NULL;
    if (check_name(hkey))
        return dn_err_set(err, DN_EINVAL, "store %s: invalid histogram key", self->dir);
    uint8_t key[DN_MSG_KEY_MAX + 9];
    size_t klen = weights_key(key, hkey, UINT64_MAX), plen = klen - 8;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    int rc = open_read(self, WEIGHTS_TABLE, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        goto notfound;
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        goto done;
    MDB_val k = {klen, key}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    int exact = rc == 0 && k.mv_size == klen && memcmp(k.mv_data, key, klen) == 0;
    if (!exact && (rc == 0 || rc == MDB_NOTFOUND))
        rc = mdb_cursor_get(cur, &k, &v, rc == 0 ? MDB_PREV : MDB_LAST);
    if (rc == 0 && !(k.mv_size == klen && memcmp(k.mv_data, key, plen) == 0))
        rc = MDB_NOTFOUND;
    if (rc == 0) {
        *version = dn_get_be64((const uint8_t *)k.mv_data + plen);
        if (blob)
            rc = copy_out(&v, blob, len);
    }
done:
    if (cur)
        mdb_cursor_close(cur);
    end_read(txn);
    if (rc == MDB_NOTFOUND)
        goto notfound;
    if (rc == DN_ENOMEM)
        return dn_err_set(err, rc, "store %s: out of memory", self->dir);
    if (rc)
        return lmdb_error(self, err, "latest weights", rc);
    return 0;
notfound:
    return dn_err_set(err, DN_ENOTFOUND, "store %s: no weights for '%s'", self->dir, hkey);
}

int dn_store_weights_versions(dn_store_t *self, const char *hkey, uint64_t *versions,
                              size_t cap, size_t *n, dn_err_t *err)
{
    *n = 0;
    if (check_name(hkey))
        return dn_err_set(err, DN_EINVAL, "store %s: invalid histogram key", self->dir);
    uint8_t key[DN_MSG_KEY_MAX + 9];
    size_t plen = weights_key(key, hkey, 0) - 8;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    int rc = open_read(self, WEIGHTS_TABLE, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        goto done;
    MDB_val k = {plen, key}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == plen + 8 && memcmp(k.mv_data, key, plen) == 0) {
        if (*n < cap)
            versions[*n] = dn_get_be64((const uint8_t *)k.mv_data + plen);
        (*n)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
done:
    if (cur)
        mdb_cursor_close(cur);
    end_read(txn);
    return rc ? lmdb_error(self, err, "list weights", rc) : 0;
}

/* ---- checkpoint reads -------------------------------------------------- */

int dn_store_checkpoint_read(dn_store_t *self, const char *name, void **blob, size_t *len,
                             dn_seq_tracker_t *seq, dn_err_t *err)
{
    if (blob)
        *blob = NULL;
    if (check_name(name))
        return dn_err_set(err, DN_EINVAL, "store %s: invalid checkpoint name", self->dir);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = open_read(self, CHECKPOINT_TABLE, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        return dn_err_set(err, DN_ENOTFOUND, "store %s: no checkpoint '%s'", self->dir, name);
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    size_t n = strlen(name);
    uint8_t sk[DN_MSG_KEY_MAX + SEQ_SUFFIX_LEN];
    memcpy(sk, name, n);
    memcpy(sk + n, SEQ_SUFFIX, SEQ_SUFFIX_LEN);
    MDB_val k = {n, (void *)name}, v, skv = {n + SEQ_SUFFIX_LEN, sk}, sv;
    void *out = NULL;
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        end_read(txn);
        return dn_err_set(err, DN_ENOTFOUND, "store %s: no checkpoint '%s'", self->dir, name);
    }
    if (rc) {
        end_read(txn);
        return lmdb_error(self, err, "read checkpoint", rc);
    }
    if (blob && copy_out(&v, &out, len)) {
        end_read(txn);
        return dn_err_set(err, DN_ENOMEM, "store %s: out of memory", self->dir);
    }
    if (seq) {
        rc = mdb_get(txn, dbi, &skv, &sv);
        if (rc == 0) {
            rc = dn_seq_tracker_load(seq, sv.mv_data, sv.mv_size, err);
            if (rc)
                dn_err_prefix(err, "store %s: checkpoint '%s'", self->dir, name);
        } else if (rc == MDB_NOTFOUND) {
            rc = 0;
        } else {
            rc = lmdb_error(self, err, "read checkpoint sequence state", rc);
        }
    }
    end_read(txn);
    if (rc) {
        free(out);
        return rc;
    }
    if (blob)
        *blob = out;
    return 0;
}

/* ---- log reads --------------------------------------------------------- */

int dn_store_log_foreach(dn_store_t *self, const char *table, int64_t run_from, int64_t run_to,
                         dn_store_log_fn fn, void *arg, dn_err_t *err)
{
    if (check_table(table) || !fn)
        return dn_err_set(err, DN_EINVAL, "store %s: invalid table or visitor", self->dir);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    int rc = open_read(self, table, &txn, &dbi);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return lmdb_error(self, err, "begin read", rc);
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        goto done;
    uint8_t start[12];
    log_key(start, run_from, 0);
    MDB_val k = {12, start}, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 12) {
        const uint8_t *kp = k.mv_data;
        int64_t run = (int64_t)(dn_get_be64(kp) ^ (1ull << 63));
        if (run > run_to)
            break;
        int r = fn(run, get_be32(kp + 8), v.mv_data, v.mv_size, arg);
        if (r) {
            rc = r < 0 ? r : 0;
            goto done;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
done:
    if (cur)
        mdb_cursor_close(cur);
    end_read(txn);
    if (rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE))
        return lmdb_error(self, err, "iterate log", rc);
    return rc;
}
