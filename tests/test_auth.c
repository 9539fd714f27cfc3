/* test_auth.c: the keys directory, `keygen`'s files, and CURVE + ZAP on real
 * sockets (lib/pipe/auth.h, bus.h). The server is ours (a keyring and the ZAP
 * handler on its own context, as in a service); the foreign clients are plain
 * libzmq sockets set up by hand on another context, as another process would,
 * so what is refused is refused by the handshake and not by our own client. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "bus.h"
#include "tmpdir.h"

static char dir[DN_TEST_TMPDIR_MAX];
static void *server_ctx, *client_ctx;
static dn_keyring_t *server_keys, *client_keys;
static dn_zap_t *zap;
static dn_sock_t *server, *client;
static void *raw;

static void setup(void) { dn_test_tmpdir(dir, "auth"); }

static void teardown(void)
{
    dn_sock_destroy(&client);
    dn_sock_destroy(&server);
    if (raw)
        zmq_close(raw);
    if (client_ctx)
        zmq_ctx_term(client_ctx);
    if (server_ctx) {
        zmq_ctx_shutdown(server_ctx);
        dn_zap_stop(&zap);
        zmq_ctx_term(server_ctx);
    }
    dn_keyring_destroy(&server_keys);
    dn_keyring_destroy(&client_keys);
    dn_test_rmdir(dir);
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 60);

static void keygen(const char *name, int roles)
{
    dn_err_t err = {0};
    int made = 0;
    cr_assert_eq(dn_auth_keygen(dir, name, roles, &made, &err), 0, "keygen %s: %s", name,
                 err.msg);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void expect_load_error(const char *identity, int code, const char *words)
{
    dn_err_t err = {0};
    dn_keyring_t *k = dn_keyring_load(dir, identity, &err);
    cr_assert_null(k, "the keyring loaded although %s", words);
    cr_assert_eq(err.code, code, "code %d (%s), want %d", err.code, err.msg, code);
    cr_assert(strstr(err.msg, words), "error '%s' does not say '%s'", err.msg, words);
}

/* ---- files --------------------------------------------------------------------- */

Test(auth, keygen_writes_a_private_secret_and_keeps_an_existing_pair)
{
    keygen("alice", DN_ROLE_LABELS);
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/alice.secret", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "secret key mode %03o", st.st_mode & 0777);
    snprintf(path, sizeof path, "%s/alice.pub", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644, "public key mode %03o", st.st_mode & 0777);
    dn_err_t err = {0};
    dn_keyring_t *k = dn_keyring_load(dir, "alice", &err);
    cr_assert_not_null(k, "%s", err.msg);
    uint8_t before[32];
    memcpy(before, dn_keyring_public(k, "alice"), 32);
    /* The secret's public half, computed by libzmq, is the .pub file's. */
    char sec[41], pub[41], listed[41];
    dn_auth_z85(dn_keyring_own_secret(k), sec);
    cr_assert_eq(zmq_curve_public(pub, sec), 0);
    dn_auth_z85(before, listed);
    cr_assert_str_eq(pub, listed);
    dn_keyring_destroy(&k);
    /* Again, with one more role: the pair stays, the role is added once. */
    int made = 1;
    cr_assert_eq(dn_auth_keygen(dir, "alice", DN_ROLE_LABELS | DN_ROLE_SCORES, &made, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(made, 0, "an existing pair was replaced");
    cr_assert_not_null(k = dn_keyring_load(dir, NULL, &err), "%s", err.msg);
    cr_assert_eq(memcmp(before, dn_keyring_public(k, "alice"), 32), 0, "the key changed");
    cr_assert_eq(dn_keyring_roles(k, "alice"), DN_ROLE_LABELS | DN_ROLE_SCORES);
    dn_keyring_destroy(&k);
    snprintf(path, sizeof path, "grep -c '^labels: alice$' %s/roles | grep -qx 1", dir);
    cr_assert_eq(system(path), 0, "alice listed twice under labels");
}

Test(auth, keygen_refuses_bad_names_and_half_pairs)
{
    dn_err_t err = {0};
    cr_assert_eq(dn_auth_keygen(dir, "../evil", 0, NULL, &err), DN_EINVAL);
    cr_assert_eq(dn_auth_keygen(dir, ".hidden", 0, NULL, &err), DN_EINVAL);
    write_file("bob.pub", "0000000000000000000000000000000000000000\n");
    cr_assert_eq(dn_auth_keygen(dir, "bob", 0, NULL, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "bob.secret"), "%s", err.msg);
}

Test(auth, damaged_directories_are_refused_by_name)
{
    expect_load_error(NULL, DN_ENOTFOUND, "no roles file");
    keygen("alice", DN_ROLE_LABELS);
    keygen("srv", DN_ROLE_RUNS);
    expect_load_error("carol", DN_ENOTFOUND, "carol.secret");
    write_file("roles", "runs: srv\nshifters: alice\n");
    expect_load_error(NULL, DN_EINVAL, "roles line 2");
    write_file("roles", "runs: srv\nlabels: alice carol\n");
    expect_load_error(NULL, DN_EINVAL, "carol.pub");
    write_file("roles", "runs srv\n");
    expect_load_error(NULL, DN_EFORMAT, "line 1");
    write_file("roles", "# fine\nruns: srv # the feed\n\nlabels: alice\n");
    dn_err_t err = {0};
    dn_keyring_t *k = dn_keyring_load(dir, "alice", &err);
    cr_assert_not_null(k, "%s", err.msg);
    cr_assert_eq(dn_keyring_roles(k, "srv"), DN_ROLE_RUNS);
    cr_assert_str_eq(dn_keyring_with_role(k, DN_ROLE_RUNS, 0), "srv");
    cr_assert_null(dn_keyring_with_role(k, DN_ROLE_RUNS, 1));
    dn_keyring_destroy(&k);
    /* A secret the group can read, a .pub that is not its half, a damaged key. */
    char path[256];
    snprintf(path, sizeof path, "%s/alice.secret", dir);
    cr_assert_eq(chmod(path, 0640), 0);
    expect_load_error("alice", DN_EINVAL, "readable by others");
    cr_assert_eq(chmod(path, 0600), 0);
    snprintf(path, sizeof path, "cp %s/srv.pub %s/alice.pub", dir, dir);
    cr_assert_eq(system(path), 0);
    expect_load_error("alice", DN_EMISMATCH, "not the public half");
    write_file("srv.pub", "not a key\n");
    expect_load_error(NULL, DN_EFORMAT, "srv.pub");
}

/* Issue 18: the dashboard's key lists the delegate role; parsed, written
 * to and read back from the roles file like the others. */
Test(auth, the_delegate_role_parses_and_round_trips_through_the_roles_file)
{
    dn_err_t err = {0};
    int role = 0;
    cr_assert_eq(dn_auth_role_parse("delegate", &role, &err), 0, "%s", err.msg);
    cr_assert_eq(role, DN_ROLE_DELEGATE);
    cr_assert_eq(dn_auth_role_parse("delegates", &role, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "delegate"), "the refusal does not list delegate: %s", err.msg);
    char buf[128];
    cr_assert_str_eq(dn_auth_roles_str(DN_ROLE_LABELS | DN_ROLE_DELEGATE, buf, sizeof buf),
                     "labels,delegate");
    keygen("dashboard", DN_ROLE_LABELS | DN_ROLE_DELEGATE);
    keygen("shifter", DN_ROLE_LABELS);
    dn_keyring_t *k = dn_keyring_load(dir, NULL, &err);
    cr_assert_not_null(k, "%s", err.msg);
    cr_assert_eq(dn_keyring_roles(k, "dashboard"), DN_ROLE_LABELS | DN_ROLE_DELEGATE);
    cr_assert_eq(dn_keyring_roles(k, "shifter"), DN_ROLE_LABELS);
    cr_assert_str_eq(dn_keyring_with_role(k, DN_ROLE_DELEGATE, 0), "dashboard");
    cr_assert_null(dn_keyring_with_role(k, DN_ROLE_DELEGATE, 1));
    dn_keyring_destroy(&k);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "grep -qx 'delegate: dashboard' %s/roles", dir);
    cr_assert_eq(system(cmd), 0, "no 'delegate: dashboard' line in the roles file");
}

/* Who a label records: the key's name, except for a delegate naming a
 * person, whose name is kept once it is fit to show. */
Test(auth, a_label_records_the_keys_name_unless_a_delegate_names_a_person)
{
    const int shifter = DN_ROLE_LABELS, dash = DN_ROLE_LABELS | DN_ROLE_DELEGATE;
    const char *who = NULL;
    dn_err_t err = {0};
    /* A plain labeller: its own name, whatever it claims. */
    cr_assert_eq(dn_auth_label_who(shifter, "shifter", "alice", &who, &err), 0, "%s", err.msg);
    cr_assert_str_eq(who, "shifter");
    /* Delegate alone, or no role at all, or an unknown key: not a labeller. */
    cr_assert_eq(dn_auth_label_who(DN_ROLE_DELEGATE, "d", "alice", &who, &err), DN_EINVAL);
    cr_assert(strstr(err.msg, "not admitted to label"), "%s", err.msg);
    cr_assert_null(who);
    cr_assert_eq(dn_auth_label_who(0, "d", "alice", &who, &err), DN_EINVAL);
    cr_assert_eq(dn_auth_label_who(-1, "x", "alice", &who, &err), DN_EINVAL);
    /* The dashboard: the person's name is kept ... */
    const char *claimed = "alice";
    cr_assert_eq(dn_auth_label_who(dash, "dashboard", claimed, &who, &err), 0, "%s", err.msg);
    cr_assert(who == claimed, "who '%s' is not the label's own", who);
    /* José Müller, a CJK character and an emoji: 2-, 3- and 4-byte sequences */
    const char *utf8 = "Jos\xc3\xa9 M\xc3\xbcller \xe6\x9d\x8e \xf0\x9f\x94\xad";
    cr_assert_eq(dn_auth_label_who(dash, "dashboard", utf8, &who, &err), 0, "%s", err.msg);
    char max[DN_AUTH_WHO_MAX + 2];
    memset(max, 'a', DN_AUTH_WHO_MAX);
    max[DN_AUTH_WHO_MAX] = '\0';
    cr_assert_eq(dn_auth_label_who(dash, "dashboard", max, &who, &err), 0, "%s", err.msg);
    /* ... an empty or absent one becomes the key's name ... */
    cr_assert_eq(dn_auth_label_who(dash, "dashboard", "", &who, &err), 0);
    cr_assert_str_eq(who, "dashboard");
    cr_assert_eq(dn_auth_label_who(dash, "dashboard", NULL, &who, &err), 0);
    cr_assert_str_eq(who, "dashboard");
    /* ... and one unfit to show is refused, saying why. */
    struct { const char *who, *why; } bad[] = {
        {"alice\nroot", "control character at byte 5"},
        {"\x7f", "control character at byte 0"},
        {"a\xc2\x85", "control character at byte 1"},          /* C1 NEL */
        {"ev\xe2\x80\xaeil", "bidirectional control (U+202E) at byte 2"},
        {"\xff", "not UTF-8 (byte 0 is 0xff)"},
        {"\xc0\xaf", "not UTF-8 (byte 0 is 0xc0)"},              /* overlong '/' */
        {"\xe0\x80\xaf", "overlong"},
        {"\xed\xa0\x80", "surrogate"},
        {"ab\xe6\x9d", "cut at byte 2"},
        {"a\xe6(b", "byte 2 is 0x28"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        who = "unchanged";
        int rc = dn_auth_label_who(dash, "dashboard", bad[i].who, &who, &err);
        cr_assert_eq(rc, DN_EFORMAT, "case %zu accepted (rc %d)", i, rc);
        cr_assert_null(who, "case %zu", i);
        cr_assert(strstr(err.msg, bad[i].why), "case %zu: '%s' does not say '%s'", i, err.msg,
                  bad[i].why);
    }
    max[DN_AUTH_WHO_MAX] = 'a';
    max[DN_AUTH_WHO_MAX + 1] = '\0';
    cr_assert_eq(dn_auth_label_who(dash, "dashboard", max, &who, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "65 bytes (at most 64)"), "%s", err.msg);
}

/* Found by fuzz/fuzz_keys.c: libzmq's Z85 decoder stops at a NUL, so a key
 * file with one inside its 40 characters left the rest of the key unset. */
Test(auth, a_key_with_a_nul_inside_is_refused)
{
    char text[41] = "FzbBYTB9SK4aAH.1w7Mqa>V&wZg9?OtQz<RRuM-V";
    uint8_t key[32];
    dn_err_t err = {0};
    cr_assert_eq(dn_auth_parse_key(text, 40, key, &err), 0, "%s", err.msg);
    text[10] = '\0';
    cr_assert_eq(dn_auth_parse_key(text, 40, key, &err), DN_EFORMAT);
    cr_assert(strstr(err.msg, "character 11"), "%s", err.msg);
    text[10] = '~'; /* not in the alphabet */
    cr_assert_eq(dn_auth_parse_key(text, 40, key, &err), DN_EFORMAT);
}

/* ---- sockets ------------------------------------------------------------------- */

/* Our server: a PULL (or a SUB) bound on loopback with keyring identity srv,
 * admitting the roles in admit. Returns its endpoint. */
static const char *start_server(int type, int admit)
{
    dn_err_t err = {0};
    cr_assert_not_null(server_keys = dn_keyring_load(dir, "srv", &err), "%s", err.msg);
    cr_assert_not_null(server_ctx = zmq_ctx_new());
    cr_assert_not_null(zap = dn_zap_start(server_ctx, server_keys, &err), "%s", err.msg);
    dn_sock_opts_t o = {.keys = server_keys, .admit = admit, .watch = zap};
    server = dn_sock_new(server_ctx, type, "bind:tcp://127.0.0.1:*", &o, &err);
    cr_assert_not_null(server, "%s", err.msg);
    cr_assert_not_null(client_ctx = zmq_ctx_new());
    return dn_sock_endpoint(server);
}

/* Our client with keyring identity name, sending one Label who = "boss". */
static void send_label_as(const char *name, int type, const char *ep)
{
    dn_err_t err = {0};
    cr_assert_not_null(client_keys = dn_keyring_load(dir, name, &err), "%s", err.msg);
    char spec[300];
    snprintf(spec, sizeof spec, "connect:srv@%s", ep);
    dn_sock_opts_t o = {.keys = client_keys, .producer = name, .linger_ms = 1};
    cr_assert_not_null(client = dn_sock_new(client_ctx, type, spec, &o, &err), "%s", err.msg);
    /* A PUB drops what it sends before it has the subscription, which a
     * bound SUB hands over only while it is read: read it for a while. */
    for (int i = 0; type == ZMQ_PUB && i < 10; i++) {
        Dinamo__Envelope *none = NULL;
        cr_assert_eq(dn_sock_recv(server, 50, &none, NULL, &err), DN_BUS_TIMEOUT);
    }
    Dinamo__Label l = DINAMO__LABEL__INIT;
    l.has_run_number = l.has_run_seq = l.has_verdict = l.has_source = 1;
    l.run_number = 7;
    l.verdict = DINAMO__VERDICT__GOOD;
    l.source = DINAMO__LABEL_SOURCE__SHIFTER;
    l.who = (char *)"boss";
    Dinamo__Envelope env = DINAMO__ENVELOPE__INIT;
    env.body_case = DINAMO__ENVELOPE__BODY_LABEL;
    env.label = &l;
    cr_assert_eq(dn_sock_send(client, &env, 2000, &err), 0, "%s", err.msg);
}

/* What the server receives within ms: 0 with the peer name, or DN_BUS_TIMEOUT. */
static int server_receives(int ms, char *peer)
{
    dn_err_t err = {0};
    Dinamo__Envelope *env = NULL;
    dn_recv_info_t info;
    int rc = dn_sock_recv(server, ms, &env, &info, &err);
    cr_assert(rc == 0 || rc == DN_BUS_TIMEOUT, "receive: %s", err.msg);
    if (rc == 0)
        snprintf(peer, DN_AUTH_NAME_MAX, "%s", info.peer);
    dn_msg_free(&env);
    return rc;
}

/* Waits up to 5 s for the ZAP counter picked by which to reach 1. */
static uint64_t wait_refusal(int which)
{
    for (int i = 0; i < 50; i++) {
        dn_zap_stats_t z = dn_zap_stats(zap);
        uint64_t v = which == 0 ? z.refused_unknown : which == 1 ? z.refused_role
                                                                 : z.refused_handshake;
        if (v)
            return v;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

Test(auth, a_listed_key_is_admitted_and_named_as_the_sender)
{
    keygen("srv", DN_ROLE_RUNS);
    keygen("alice", DN_ROLE_LABELS);
    const char *ep = start_server(ZMQ_PULL, DN_ROLE_ANY);
    send_label_as("alice", ZMQ_PUSH, ep);
    char peer[DN_AUTH_NAME_MAX] = "";
    cr_assert_eq(server_receives(5000, peer), 0, "alice's message did not arrive");
    cr_assert_str_eq(peer, "alice");
    cr_assert_eq(dn_zap_stats(zap).admitted, 1);
}

Test(auth, an_unknown_key_is_refused_and_counted)
{
    keygen("srv", DN_ROLE_RUNS);
    const char *ep = start_server(ZMQ_PULL, DN_ROLE_ANY);
    /* A stranger that knows the server's public key but is not listed. */
    char pub[41], sec[41], srv[41];
    cr_assert_eq(zmq_curve_keypair(pub, sec), 0);
    dn_auth_z85(dn_keyring_public(server_keys, "srv"), srv);
    int linger = 0;
    cr_assert_not_null(raw = zmq_socket(client_ctx, ZMQ_PUSH));
    cr_assert_eq(zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof linger), 0);
    cr_assert_eq(zmq_setsockopt(raw, ZMQ_CURVE_SERVERKEY, srv, 40), 0);
    cr_assert_eq(zmq_setsockopt(raw, ZMQ_CURVE_PUBLICKEY, pub, 40), 0);
    cr_assert_eq(zmq_setsockopt(raw, ZMQ_CURVE_SECRETKEY, sec, 40), 0);
    cr_assert_eq(zmq_connect(raw, ep), 0);
    zmq_send(raw, "x", 1, ZMQ_DONTWAIT);
    cr_assert_eq(wait_refusal(0), 1, "the unknown key was not refused once");
    char peer[DN_AUTH_NAME_MAX];
    cr_assert_eq(server_receives(500, peer), DN_BUS_TIMEOUT, "a stranger's message arrived");
    cr_assert_eq(dn_zap_stats(zap).admitted, 0);
}

Test(auth, a_peer_without_curve_is_refused_and_counted)
{
    keygen("srv", DN_ROLE_RUNS);
    const char *ep = start_server(ZMQ_PULL, DN_ROLE_ANY);
    int linger = 0;
    cr_assert_not_null(raw = zmq_socket(client_ctx, ZMQ_PUSH));
    cr_assert_eq(zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof linger), 0);
    cr_assert_eq(zmq_connect(raw, ep), 0);
    zmq_send(raw, "x", 1, ZMQ_DONTWAIT);
    cr_assert_geq(wait_refusal(2), 1, "the plain peer's handshake was not counted");
    char peer[DN_AUTH_NAME_MAX];
    cr_assert_eq(server_receives(500, peer), DN_BUS_TIMEOUT, "a plain message arrived");
}

Test(auth, a_listed_key_without_the_role_cannot_publish_weights)
{
    keygen("srv", DN_ROLE_SCORES);
    keygen("alice", DN_ROLE_LABELS);
    keygen("registry", DN_ROLE_REGISTRY);
    const char *ep = start_server(ZMQ_SUB, DN_ROLE_REGISTRY);
    send_label_as("alice", ZMQ_PUB, ep);
    cr_assert_eq(wait_refusal(1), 1, "a shifter's key was admitted on the weights socket");
    char peer[DN_AUTH_NAME_MAX] = "";
    cr_assert_eq(server_receives(500, peer), DN_BUS_TIMEOUT, "alice published on it");
    dn_sock_destroy(&client);
    dn_keyring_destroy(&client_keys);
    send_label_as("registry", ZMQ_PUB, ep);
    cr_assert_eq(server_receives(5000, peer), 0, "the registry's message did not arrive");
    cr_assert_str_eq(peer, "registry");
}

Test(auth, a_client_talks_only_to_the_server_it_names)
{
    keygen("srv", DN_ROLE_RUNS);
    keygen("alice", DN_ROLE_LABELS);
    keygen("mallory", 0);
    const char *ep = start_server(ZMQ_PULL, DN_ROLE_ANY);
    dn_err_t err = {0};
    cr_assert_not_null(client_keys = dn_keyring_load(dir, "alice", &err), "%s", err.msg);
    char spec[300];
    dn_sock_opts_t o = {.keys = client_keys, .linger_ms = 1};
    /* No server named, a name without a key, bind and connect on one socket. */
    snprintf(spec, sizeof spec, "connect:%s", ep);
    cr_assert_null(dn_sock_new(client_ctx, ZMQ_PUSH, spec, &o, &err));
    cr_assert(strstr(err.msg, "name the server's key"), "%s", err.msg);
    snprintf(spec, sizeof spec, "connect:nobody@%s", ep);
    cr_assert_null(dn_sock_new(client_ctx, ZMQ_PUSH, spec, &o, &err));
    cr_assert(strstr(err.msg, "no key 'nobody'"), "%s", err.msg);
    snprintf(spec, sizeof spec, "connect:srv@%s,bind:tcp://127.0.0.1:*", ep);
    cr_assert_null(dn_sock_new(client_ctx, ZMQ_PUSH, spec, &o, &err));
    cr_assert(strstr(err.msg, "either binds or connects"), "%s", err.msg);
    /* Expecting mallory's key at srv's address: the handshake fails and
     * nothing is delivered, although alice herself is listed. */
    snprintf(spec, sizeof spec, "connect:mallory@%s", ep);
    cr_assert_not_null(client = dn_sock_new(client_ctx, ZMQ_PUSH, spec, &o, &err), "%s",
                       err.msg);
    dn_sock_send_raw(client, NULL, "x", 1, 0, &err);
    char peer[DN_AUTH_NAME_MAX];
    cr_assert_eq(server_receives(1000, peer), DN_BUS_TIMEOUT, "delivered to the wrong server");
    cr_assert_eq(dn_zap_stats(zap).admitted, 0);
}
