/* test_deploy.c: the container image (deploy/Dockerfile). make test needs no
 * Docker engine (make test-deploy runs the cluster on one:
 * scripts/test-deploy.sh), so here the image is checked against what the
 * binaries need: its
 * runtime stage must install the Debian package of every shared library the
 * built services and tool link, plus PLplot's cairo driver and a font
 * (scripts/check-image-deps.sh); a Dockerfile lacking one is caught. Run from
 * the repository root; binaries from $DINAMO_BUILD (default build). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *build_dir(void)
{
    const char *b = getenv("DINAMO_BUILD");
    return b && *b ? b : "build";
}

/* Runs the check with DINAMO_DOCKERFILE=dockerfile (NULL: the real one);
 * returns its exit status and its output in out. */
static int check(const char *dockerfile, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s%s scripts/check-image-deps.sh %s 2>&1",
             dockerfile ? "DINAMO_DOCKERFILE=" : "", dockerfile ? dockerfile : "", build_dir());
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(deploy, image_installs_every_library_the_binaries_link)
{
    char out[8192];
    int rc = check(NULL, out, sizeof out);
    cr_assert_eq(rc, 0, "deploy/Dockerfile's runtime stage is incomplete (exit %d):\n%s", rc,
                 out);
}

Test(deploy, a_missing_runtime_package_is_named)
{
    char path[] = "/tmp/dn_dockerfile_XXXXXX", cmd[512], out[8192];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "sed 's/ libplplot17 / /' deploy/Dockerfile > %s", path);
    cr_assert_eq(system(cmd), 0);
    int rc = check(path, out, sizeof out);
    unlink(path);
    cr_assert_eq(rc, 1, "exit %d, want 1 for a Dockerfile without libplplot17:\n%s", rc, out);
    cr_assert(strstr(out, "lacks libplplot17"), "the missing package is not named:\n%s", out);
}
