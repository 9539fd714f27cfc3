/* users.h: the people who may log in to the dashboard, and their passwords.
 *
 * The users file (configuration key users_file, default "keys/users"; made by
 * `dinamo user add NAME`) holds one line per user:
 *
 *     # comment
 *     alice:$argon2id$v=19$m=65536,t=2,p=1$SALT$HASH
 *
 * NAME is 1 to 64 of [A-Za-z0-9._-] (it becomes a label's "who"); HASH is
 * what libsodium's crypto_pwhash_str writes (Argon2id; its cost parameters
 * are read from the string, capped at 1 GiB and 10 passes so that a damaged
 * or hostile line cannot make one login take the machine). '#' starts a
 * comment line; blank lines and white space around a line are allowed; a
 * name appears once. Like a CURVE secret key, the file must be readable by
 * its owner only: one that the group or others may read or write is refused.
 *
 * Passwords are hashed with crypto_pwhash_OPSLIMIT_INTERACTIVE and
 * MEMLIMIT_INTERACTIVE (2 passes over 64 MiB, ~0.1 s here): the limits
 * libsodium recommends for an online login. SENSITIVE (1 GiB, seconds per
 * login) would take the memory and cores the pipeline runs on at every login
 * on a 2-core machine; the file's 0600 mode, not the hash's cost, is the first
 * defence of the hashes, and the cost only has to make guessing from a stolen
 * file slow (~10 guesses per second per core).
 *
 * Verification costs one Argon2id hash whatever the name: an unknown name is
 * checked against a dummy hash with the cost of the file's first entry (made
 * at the first verification, before the name is looked at), and
 * the name is looked up by comparing it with every entry, so the time of a
 * refusal does not tell a listed name from an unlisted one. At most one
 * verification runs at a time per dn_users_t (a mutex): a flood of login
 * attempts costs one hash's 64 MiB, not one per server thread, and is
 * throttled to the hash's rate; dn_users_verify_try refuses at once instead
 * of waiting its turn.
 *
 * Thread rules: dn_sodium_init() any thread, any number of times. A dn_users_t
 * changes only through dn_users_refresh(): dn_users_verify(), _verify_try(),
 * _has() and _refresh() may be called from any number of threads at once
 * (they take turns on a mutex); _count() and _name() read without it. dn_users_add()
 * and dn_users_remove() rewrite the file atomically (fileio.h) and do not lock
 * it: two run at once may lose one's change. */
#ifndef DN_USERS_H
#define DN_USERS_H

#include <stddef.h>

#include "error.h"

#define DN_USERS_NAME_MAX 64    /* bytes of a user name, without the NUL */
#define DN_USERS_PASSWORD_MIN 8 /* bytes; shorter passwords are refused */
#define DN_USERS_PASSWORD_MAX 1024
#define DN_USERS_FILE_DEFAULT "keys/users"

typedef struct dn_users_t dn_users_t;

/* Initialises libsodium once per process (pthread_once); later calls return
 * the first call's outcome. Returns 0 or DN_EIO ("libsodium cannot
 * initialise": no entropy source). */
int dn_sodium_init(dn_err_t *err);

/* name is a valid user name: 1 to 64 of [A-Za-z0-9._-]. */
int dn_users_name_ok(const char *name);

/* Parses a users file's text (len bytes, may hold anything; path only names
 * it in errors). Pure: no hashing, no libsodium, no file. Returns a new object
 * the caller frees with dn_users_destroy(), or NULL with *err set:
 * DN_EFORMAT ("users line 3: 'bob smith' is not a user name (want 1 to 64 of
 * [A-Za-z0-9._-])", a line without ':', a hash that is not crypto_pwhash_str's
 * Argon2id, a cost over the caps, a NUL byte, a name listed twice: each named
 * with path and line), DN_ENOMEM. */
dn_users_t *dn_users_parse(const char *path, const char *text, size_t len, dn_err_t *err);

/* Reads and parses the users file at path, refusing one the group or others
 * may read or write (no hashing: cheap enough for `dinamo user list`).
 * Returns a new object the caller frees with dn_users_destroy(), or NULL with
 * *err set: DN_ENOTFOUND (no such file: "make it with `dinamo user add
 * NAME`"), DN_EINVAL (mode: "chmod 600 it"), DN_EFORMAT (as dn_users_parse),
 * DN_EIO, DN_ENOMEM. */
dn_users_t *dn_users_load(const char *path, dn_err_t *err);

void dn_users_destroy(dn_users_t **self_p);

/* Number of users, and the i-th name in file order (owned by self, valid
 * until self changes), or NULL past the last. Not while dn_users_refresh may
 * run on another thread. */
int dn_users_count(const dn_users_t *self);
const char *dn_users_name(const dn_users_t *self, int i);

/* Reads the file again when it changed since it was read (another inode,
 * size or modification time: `dinamo user add/remove` replace it), so that a
 * running server sees users added and removed without a restart. The new
 * list replaces the old under the verification lock; a file that cannot be
 * read or parsed now (or has become readable by others) leaves the old list
 * in place and is reported. *changed (may be NULL) says whether it was
 * replaced. Returns 0, DN_ESTATE (self was not made by dn_users_load), or
 * dn_users_load's errors. */
int dn_users_refresh(dn_users_t *self, int *changed, dn_err_t *err);

/* name is listed (exact match; takes the lock, so safe beside
 * dn_users_refresh): for a server to refuse a session whose user was
 * removed. */
int dn_users_has(dn_users_t *self, const char *name);

/* Checks name's password. Costs one Argon2id verification whatever name is
 * (listed, unlisted, not even a valid name), one at a time per self; the
 * first call also makes the dummy hash (so it costs two, whatever the name).
 * Returns 0 (the password is name's) or DN_EPERM with the same message for
 * a wrong password and an unknown name ("wrong user name or password"),
 * DN_EINVAL (a NULL argument), DN_EIO (libsodium cannot initialise),
 * DN_ENOMEM (no memory for the dummy hash). */
int dn_users_verify(dn_users_t *self, const char *name, const char *password, dn_err_t *err);

/* As dn_users_verify, but returns DN_ESTATE at once ("another login is being
 * checked: try again") when a verification of self is running: for a server
 * whose threads also serve pages, so that a flood of logins gets refusals
 * (e.g. HTTP 429) instead of taking every thread. */
int dn_users_verify_try(dn_users_t *self, const char *name, const char *password,
                        dn_err_t *err);

/* Adds name with password (hashed here, INTERACTIVE limits) to the users
 * file at path, creating it (and its directory) when missing; with replace,
 * a listed name gets the new password in its line, else a listed name is
 * refused. Comments and other lines stay as they were. The file is written
 * atomically with mode 0600. Returns 0, DN_EINVAL (bad name, password
 * shorter than DN_USERS_PASSWORD_MIN or longer than DN_USERS_PASSWORD_MAX,
 * name listed and !replace, existing file readable by others), DN_EFORMAT
 * (existing file damaged: named as by dn_users_parse), DN_EIO, DN_ENOMEM. */
int dn_users_add(const char *path, const char *name, const char *password, int replace,
                 dn_err_t *err);

/* Removes name's line from the users file at path (atomically, mode 0600;
 * the other lines stay). Returns 0, DN_ENOTFOUND (no such file or no such
 * user), DN_EINVAL, DN_EFORMAT, DN_EIO, DN_ENOMEM. */
int dn_users_remove(const char *path, const char *name, dn_err_t *err);

#endif
