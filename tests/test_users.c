/* test_users.c: the dashboard's users file (lib/io/users.h): parse errors
 * named with their line, the file's mode refused like a secret key's,
 * passwords checked right / wrong / for an unknown name, `dinamo user add`'s
 * atomic rewrite (mode 0600, comments kept, an existing name refused unless
 * replaced), and libsodium initialised safely from many threads at once. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "tmpdir.h"
#include "users.h"

static char dir[DN_TEST_TMPDIR_MAX];
static char path[DN_TEST_TMPDIR_MAX + 32];

static void setup(void)
{
    dn_test_tmpdir(dir, "users");
    snprintf(path, sizeof path, "%s/keys/users", dir);
}
static void teardown(void) { dn_test_rmdir(dir); }

TestSuite(users, .init = setup, .fini = teardown, .timeout = 120);

/* The shape of a crypto_pwhash_str string, to build files from (salt and tag
 * made up: no password matches it). */
#define H "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$" \
          "uJbJ0WxFUaQdA1ikUy9VbRk3vqZ6dKEMfmrjPBZXx3k"

static void write_text(const char *p, const char *text, mode_t mode)
{
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(p, mode), 0);
}

static char *read_text(const char *p)
{
    char *text = NULL;
    dn_err_t err = {0};
    cr_assert_eq(dn_read_file(p, &text, NULL, &err), 0, "%s", err.msg);
    return text;
}

Test(users, parses_names_comments_and_blank_lines)
{
    const char *text = "# who may label\n"
                       "\n"
                       "alice:" H "\n"
                       "  bob.smith-2_x:" H "  \r\n"
                       "\t# indented comment\n"
                       "carol:" H; /* no final newline */
    dn_err_t err = {0};
    dn_users_t *u = dn_users_parse("users", text, strlen(text), &err);
    cr_assert_not_null(u, "%s", err.msg);
    cr_assert_eq(dn_users_count(u), 3);
    cr_assert_str_eq(dn_users_name(u, 0), "alice");
    cr_assert_str_eq(dn_users_name(u, 1), "bob.smith-2_x");
    cr_assert_str_eq(dn_users_name(u, 2), "carol");
    cr_assert_null(dn_users_name(u, 3));
    dn_users_destroy(&u);
    cr_assert_null(u);
    dn_users_destroy(&u); /* NULL accepted */

    u = dn_users_parse("users", "", 0, &err);
    cr_assert_not_null(u, "an empty file is no users: %s", err.msg);
    cr_assert_eq(dn_users_count(u), 0);
    dn_users_destroy(&u);
}

Test(users, parse_errors_name_file_line_and_problem)
{
    static char long_name[80];
    memset(long_name, 'a', 65);
    static const struct {
        const char *text;
        const char *want; /* in the message */
    } cases[] = {
        {"alice " H "\n", "users line 1: want NAME:HASH (no ':')"},
        {"# ok\nbob smith:" H "\n", "users line 2: 'bob smith' is not a user name"},
        {":" H "\n", "users line 1: '' is not a user name"},
        {"al/ice:" H "\n", "is not a user name"},
        {"alice:" H "\nalice:" H "\n", "users line 2: user alice already listed on line 1"},
        {"alice:secret\n", "users line 1: user alice: want crypto_pwhash_str's Argon2id"},
        {"alice:$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
         "uJbJ0WxFUaQdA1ikUy9VbRk3vqZ6dKEMfmrjPBZXx3k\n", "want crypto_pwhash_str's Argon2id"},
        {"alice:$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
         "uJbJ0WxFUaQdA1ikUy9VbRk3vqZ6dKEMfmrjPBZXx3k\n", "cost out of bounds"},
        {"alice:$argon2id$v=19$m=65536,t=1000,p=1$c29tZXNhbHRzb21lc2FsdA$"
         "uJbJ0WxFUaQdA1ikUy9VbRk3vqZ6dKEMfmrjPBZXx3k\n", "cost out of bounds"},
        {"alice:$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHRzb21lc2FsdA$"
         "uJbJ0WxFUaQdA1ikUy9VbRk3vqZ6dKEMfmrjPBZXx3k\n", "one lane only (p=1)"},
        {"alice:$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\n", "Argon2id string"},
        {"alice:" H " trailing\n", "Argon2id string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dn_err_t err = {0};
        dn_users_t *u = dn_users_parse("users", cases[i].text, strlen(cases[i].text), &err);
        cr_assert_null(u, "case %zu accepted: %s", i, cases[i].text);
        cr_assert_eq(err.code, DN_EFORMAT, "case %zu: code %d (%s)", i, err.code, err.msg);
        cr_assert_not_null(strstr(err.msg, cases[i].want), "case %zu: message \"%s\" lacks "
                           "\"%s\"", i, err.msg, cases[i].want);
    }
    /* A name of 65 bytes, and a NUL inside a line. */
    char text[256];
    snprintf(text, sizeof text, "%s:%s\n", long_name, H);
    dn_err_t err = {0};
    cr_assert_null(dn_users_parse("users", text, strlen(text), &err));
    cr_assert_not_null(strstr(err.msg, "is not a user name"), "%s", err.msg);
    const char nul[] = "alice:" H "\nb\0b:" H "\n";
    cr_assert_null(dn_users_parse("u", nul, sizeof nul - 1, &err));
    cr_assert_str_eq(err.msg, "u line 2: NUL byte");
    memset(long_name, 0, sizeof long_name);
    memset(long_name, 'a', 64);
    snprintf(text, sizeof text, "%s:%s\n", long_name, H);
    dn_users_t *u = dn_users_parse("users", text, strlen(text), &err);
    cr_assert_not_null(u, "64 bytes is a name: %s", err.msg);
    dn_users_destroy(&u);
}

Test(users, names)
{
    cr_assert(dn_users_name_ok("a"));
    cr_assert(dn_users_name_ok("Alice.B_c-9"));
    cr_assert(!dn_users_name_ok(""));
    cr_assert(!dn_users_name_ok(NULL));
    cr_assert(!dn_users_name_ok("a b"));
    cr_assert(!dn_users_name_ok("a:b"));
    cr_assert(!dn_users_name_ok("<img>"));
    cr_assert(!dn_users_name_ok("\xc3\xa9"));
}

Test(users, load_refuses_a_file_others_may_read)
{
    char p[DN_TEST_TMPDIR_MAX + 32];
    snprintf(p, sizeof p, "%s/users", dir);
    const mode_t bad[] = {0644, 0640, 0604, 0620, 0602};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(p, "alice:" H "\n", bad[i]);
        dn_err_t err = {0};
        dn_users_t *u = dn_users_load(p, &err);
        cr_assert_null(u, "mode %03o accepted", (unsigned)bad[i]);
        cr_assert_eq(err.code, DN_EINVAL, "mode %03o: %s", (unsigned)bad[i], err.msg);
        char want[64];
        snprintf(want, sizeof want, "(mode %03o): chmod 600 it", (unsigned)bad[i]);
        cr_assert_not_null(strstr(err.msg, want), "%s", err.msg);
    }
    write_text(p, "alice:" H "\n", 0600);
    dn_err_t err = {0};
    dn_users_t *u = dn_users_load(p, &err);
    cr_assert_not_null(u, "%s", err.msg);
    cr_assert_eq(dn_users_count(u), 1);
    dn_users_destroy(&u);
    write_text(p, "alice:" H "\n", 0400);
    u = dn_users_load(p, &err);
    cr_assert_not_null(u, "0400 is the owner's only: %s", err.msg);
    dn_users_destroy(&u);

    snprintf(p, sizeof p, "%s/none", dir);
    cr_assert_null(dn_users_load(p, &err));
    cr_assert_eq(err.code, DN_ENOTFOUND, "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "dinamo user add"), "%s", err.msg);
}

Test(users, add_then_verify_right_wrong_unknown)
{
    dn_err_t err = {0};
    mode_t old = umask(0); /* the file must be 0600 whatever the umask */
    int rc = dn_users_add(path, "alice", "correct horse", 0, &err);
    umask(old);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(dn_users_add(path, "bob", "battery staple", 0, &err), 0, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "users file mode %03o", (unsigned)(st.st_mode & 0777));

    char *text = read_text(path);
    cr_assert(!strncmp(text, "# ", 2), "a new file starts with its comment: %s", text);
    cr_assert_not_null(strstr(text, "\nalice:$argon2id$v=19$m=65536,t=2,p=1$"), "%s", text);
    cr_assert_not_null(strstr(text, "\nbob:$argon2id$"), "%s", text);
    cr_assert_null(strstr(text, "correct horse"), "the password itself is in the file");
    free(text);

    dn_users_t *u = dn_users_load(path, &err);
    cr_assert_not_null(u, "%s", err.msg);
    cr_assert_eq(dn_users_count(u), 2);
    cr_assert_eq(dn_users_verify(u, "alice", "correct horse", &err), 0, "%s", err.msg);
    cr_assert_eq(dn_users_verify(u, "bob", "battery staple", &err), 0, "%s", err.msg);

    dn_err_t wrong = {0}, unknown = {0}, swapped = {0}, bad_name = {0}, empty = {0};
    cr_assert_eq(dn_users_verify(u, "alice", "correct horsE", &wrong), DN_EPERM);
    cr_assert_eq(dn_users_verify(u, "mallory", "correct horse", &unknown), DN_EPERM);
    cr_assert_eq(dn_users_verify(u, "alice", "battery staple", &swapped), DN_EPERM);
    cr_assert_eq(dn_users_verify(u, "al ice", "correct horse", &bad_name), DN_EPERM);
    cr_assert_eq(dn_users_verify(u, "alice", "", &empty), DN_EPERM);
    cr_assert_eq(dn_users_verify(u, "alic", "correct horse", &err), DN_EPERM, "a prefix");
    cr_assert_eq(dn_users_verify(u, "alicea", "correct horse", &err), DN_EPERM, "longer");
    /* One message for all: it does not say which of name and password was wrong. */
    cr_assert_str_eq(wrong.msg, "wrong user name or password");
    cr_assert_str_eq(unknown.msg, wrong.msg);
    cr_assert_str_eq(swapped.msg, wrong.msg);
    cr_assert_str_eq(bad_name.msg, wrong.msg);
    cr_assert_str_eq(empty.msg, wrong.msg);
    dn_users_destroy(&u);
}

Test(users, add_refuses_existing_name_unless_replace_and_keeps_comments)
{
    dn_err_t err = {0};
    char keys[DN_TEST_TMPDIR_MAX + 8];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    cr_assert_eq(mkdir(keys, 0700), 0);
    write_text(path, "# shifters of week 12\nalice:" H "\n# the night shift\ncarol:" H "\n",
               0600);
    cr_assert_eq(dn_users_add(path, "alice", "new password", 0, &err), DN_EINVAL);
    cr_assert_not_null(strstr(err.msg, "line 2: user alice exists"), "%s", err.msg);
    cr_assert_eq(dn_users_add(path, "alice", "new password", 1, &err), 0, "%s", err.msg);
    char *text = read_text(path);
    const char *want_head = "# shifters of week 12\nalice:$argon2id$";
    cr_assert(!strncmp(text, want_head, strlen(want_head)), "order or comment lost: %s", text);
    cr_assert_not_null(strstr(text, "\n# the night shift\ncarol:" H "\n"), "%s", text);
    cr_assert_null(strstr(text, "alice:" H), "alice's old hash stayed: %s", text);
    free(text);

    dn_users_t *u = dn_users_load(path, &err);
    cr_assert_not_null(u, "%s", err.msg);
    cr_assert_eq(dn_users_verify(u, "alice", "new password", &err), 0, "%s", err.msg);
    dn_users_destroy(&u);

    /* Bad names and passwords are refused before anything is written. */
    cr_assert_eq(dn_users_add(path, "x y", "long enough", 0, &err), DN_EINVAL);
    cr_assert_eq(dn_users_add(path, "dave", "short", 0, &err), DN_EINVAL);
    cr_assert_not_null(strstr(err.msg, "want 8 to 1024 bytes, got 5"), "%s", err.msg);
    cr_assert_eq(dn_users_add(path, "dave", "", 0, &err), DN_EINVAL);
    char huge[DN_USERS_PASSWORD_MAX + 2];
    memset(huge, 'p', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    cr_assert_eq(dn_users_add(path, "dave", huge, 0, &err), DN_EINVAL);

    /* Remove keeps the others and the comments. */
    cr_assert_eq(dn_users_remove(path, "alice", &err), 0, "%s", err.msg);
    cr_assert_eq(dn_users_remove(path, "alice", &err), DN_ENOTFOUND);
    text = read_text(path);
    cr_assert_str_eq(text, "# shifters of week 12\n# the night shift\ncarol:" H "\n");
    free(text);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "mode after remove %03o", (unsigned)(st.st_mode & 0777));

    /* A damaged file is not rewritten (its line named), nor a readable one. */
    write_text(path, "carol:" H "\nbroken line\n", 0600);
    cr_assert_eq(dn_users_add(path, "erin", "long enough", 0, &err), DN_EFORMAT);
    cr_assert_not_null(strstr(err.msg, "line 2"), "%s", err.msg);
    write_text(path, "carol:" H "\n", 0644);
    cr_assert_eq(dn_users_add(path, "erin", "long enough", 0, &err), DN_EINVAL);
    cr_assert_not_null(strstr(err.msg, "chmod 600"), "%s", err.msg);
    text = read_text(path);
    cr_assert_str_eq(text, "carol:" H "\n");
    free(text);
}

/* A line holding what crypto_pwhash_str itself wrote parses and verifies: the
 * shape the parser wants is libsodium's. */
Test(users, verifies_a_hash_libsodium_wrote)
{
    char hash[crypto_pwhash_STRBYTES];
    cr_assert_eq(dn_sodium_init(NULL), 0);
    cr_assert_eq(crypto_pwhash_str(hash, "hunter2hunter2", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                   crypto_pwhash_MEMLIMIT_INTERACTIVE), 0);
    char text[256];
    snprintf(text, sizeof text, "zed:%s\n", hash);
    dn_err_t err = {0};
    dn_users_t *u = dn_users_parse("users", text, strlen(text), &err);
    cr_assert_not_null(u, "libsodium's own string refused: %s (%s)", err.msg, hash);
    cr_assert_eq(dn_users_verify(u, "zed", "hunter2hunter2", &err), 0, "%s", err.msg);
    cr_assert_eq(dn_users_verify(u, "zed", "hunter2hunter3", &err), DN_EPERM);
    cr_assert_eq(dn_users_verify(u, "nobody", "hunter2hunter2", &err), DN_EPERM);
    dn_users_destroy(&u);
}

/* ---- threads ----------------------------------------------------------------- */

#define N_THREADS 8

static void *init_and_draw(void *arg)
{
    int *out = arg;
    out[0] = dn_sodium_init(NULL);
    unsigned char b[16] = {0}, zero[16] = {0};
    randombytes_buf(b, sizeof b);
    out[1] = memcmp(b, zero, sizeof b) != 0;
    return NULL;
}

Test(users, sodium_init_from_many_threads_at_once)
{
    pthread_t t[N_THREADS];
    int out[N_THREADS][2];
    memset(out, -1, sizeof out);
    for (int i = 0; i < N_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, init_and_draw, out[i]), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        cr_assert_eq(out[i][0], 0, "thread %d: dn_sodium_init returned %d", i, out[i][0]);
        cr_assert_eq(out[i][1], 1, "thread %d drew 16 zero bytes", i);
    }
    cr_assert_eq(dn_sodium_init(NULL), 0);
}

typedef struct verify_job_t {
    dn_users_t *u;
    const char *name, *password;
    int want, got;
} verify_job_t;

static void *verify_one(void *arg)
{
    verify_job_t *j = arg;
    j->got = dn_users_verify(j->u, j->name, j->password, NULL);
    return NULL;
}

Test(users, concurrent_verifications_answer_each_right)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_users_add(path, "alice", "correct horse", 0, &err), 0, "%s", err.msg);
    cr_assert_eq(dn_users_add(path, "bob", "battery staple", 0, &err), 0, "%s", err.msg);
    dn_users_t *u = dn_users_load(path, &err);
    cr_assert_not_null(u, "%s", err.msg);
    verify_job_t jobs[6] = {
        {u, "alice", "correct horse", 0, 1},  {u, "bob", "battery staple", 0, 1},
        {u, "alice", "battery staple", DN_EPERM, 1}, {u, "eve", "correct horse", DN_EPERM, 1},
        {u, "bob", "correct horse", DN_EPERM, 1}, {u, "alice", "correct horse", 0, 1},
    };
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, verify_one, &jobs[i]), 0);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(jobs[i].got, jobs[i].want, "job %d (%s / %s): got %d, want %d", i,
                     jobs[i].name, jobs[i].password, jobs[i].got, jobs[i].want);
    dn_users_destroy(&u);
}

static atomic_int started;

static void *verify_flagged(void *arg)
{
    verify_job_t *j = arg;
    atomic_store(&started, 1);
    j->got = dn_users_verify(j->u, j->name, j->password, NULL);
    return NULL;
}

Test(users, verify_try_refuses_while_another_runs)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_users_add(path, "alice", "correct horse", 0, &err), 0, "%s", err.msg);
    dn_users_t *u = dn_users_load(path, &err);
    cr_assert_not_null(u, "%s", err.msg);
    /* Free: it checks like dn_users_verify. */
    cr_assert_eq(dn_users_verify_try(u, "alice", "correct horse", &err), 0, "%s", err.msg);
    cr_assert_eq(dn_users_verify_try(u, "alice", "wrong horse", &err), DN_EPERM);
    /* Busy: a verification holds the turn for a whole Argon2id hash (tens of
     * ms at least); a try meanwhile is refused at once. A try that came first
     * would have run its own hash (0, not DN_ESTATE): tried again then. */
    int busy_seen = 0;
    for (int attempt = 0; attempt < 5 && !busy_seen; attempt++) {
        verify_job_t job = {u, "alice", "correct horse", 0, 1};
        atomic_store(&started, 0);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, verify_flagged, &job), 0);
        while (!atomic_load(&started))
            ;
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
        dn_err_t busy = {0};
        int rc = dn_users_verify_try(u, "alice", "correct horse", &busy);
        if (rc == DN_ESTATE) {
            busy_seen = 1;
            cr_assert_str_eq(busy.msg, "another login is being checked: try again");
        } else {
            cr_assert_eq(rc, 0, "try: %d (%s)", rc, busy.msg);
        }
        pthread_join(t, NULL);
        cr_assert_eq(job.got, 0, "the running verification: %d", job.got);
    }
    cr_assert(busy_seen, "a try never found another verification running");
    dn_users_destroy(&u);
}

Test(users, refresh_sees_users_added_and_removed)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_users_add(path, "alice", "correct horse", 0, &err), 0, "%s", err.msg);
    dn_users_t *u = dn_users_load(path, &err);
    cr_assert_not_null(u, "%s", err.msg);
    int changed = -1;
    cr_assert_eq(dn_users_refresh(u, &changed, &err), 0, "%s", err.msg);
    cr_assert_eq(changed, 0, "an unchanged file read again");

    cr_assert_eq(dn_users_add(path, "bob", "battery staple", 0, &err), 0, "%s", err.msg);
    cr_assert(!dn_users_has(u, "bob"));
    cr_assert_eq(dn_users_refresh(u, &changed, &err), 0, "%s", err.msg);
    cr_assert_eq(changed, 1);
    cr_assert(dn_users_has(u, "bob") && dn_users_has(u, "alice"));
    cr_assert_eq(dn_users_count(u), 2);
    cr_assert_eq(dn_users_verify(u, "bob", "battery staple", &err), 0, "%s", err.msg);

    cr_assert_eq(dn_users_remove(path, "alice", &err), 0, "%s", err.msg);
    cr_assert_eq(dn_users_refresh(u, &changed, &err), 0, "%s", err.msg);
    cr_assert_eq(changed, 1);
    cr_assert(!dn_users_has(u, "alice"), "a removed user is still listed");
    cr_assert_eq(dn_users_verify(u, "alice", "correct horse", &err), DN_EPERM,
                 "a removed user logs in");

    /* A damaged or exposed file keeps the last good list, and says why. */
    write_text(path, "bob:" H "\nbroken\n", 0600);
    cr_assert_eq(dn_users_refresh(u, &changed, &err), DN_EFORMAT);
    cr_assert_eq(changed, 0);
    cr_assert_not_null(strstr(err.msg, "line 2"), "%s", err.msg);
    cr_assert_eq(dn_users_verify(u, "bob", "battery staple", &err), 0, "old list lost: %s",
                 err.msg);
    write_text(path, "bob:" H "\n", 0644);
    cr_assert_eq(dn_users_refresh(u, &changed, &err), DN_EINVAL);
    cr_assert(dn_users_has(u, "bob"));
    dn_users_destroy(&u);

    u = dn_users_parse("users", "", 0, &err);
    cr_assert_not_null(u);
    cr_assert_eq(dn_users_refresh(u, &changed, &err), DN_ESTATE);
    cr_assert(!dn_users_has(u, "bob"));
    dn_users_destroy(&u);
}
