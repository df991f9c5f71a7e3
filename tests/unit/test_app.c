/* SPDX-License-Identifier: MIT */
/* The programs' shared set-up: a process is not dumpable unless the core_dumps setting asks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "app.h"

/* Runs iq_app_no_core_dumps(allow) in a child; returns its dumpable flag and core limit. */
static void in_child(bool allow, int *dumpable_r, rlim_t *core_r)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        iq_app_no_core_dumps(allow);
        struct rlimit rl;
        getrlimit(RLIMIT_CORE, &rl);
        long v[2] = {(long)prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), (long)rl.rlim_cur};
        _exit(write(fds[1], v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
    }
    close(fds[1]);
    long v[2] = {-1, -1};
    assert_int_equal(read(fds[0], v, sizeof(v)), (ssize_t)sizeof(v));
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    *dumpable_r = (int)v[0];
    *core_r = (rlim_t)v[1];
}

static void test_no_core_dumps(void **state)
{
    (void)state;
    int dumpable;
    rlim_t core;
    in_child(true, &dumpable, &core);
    assert_int_equal(dumpable, 1); /* asked for: left as it was */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    print_message("sanitizer build: the programs stay dumpable for the sanitizer's reports\n");
#else
    in_child(false, &dumpable, &core);
    assert_int_equal(dumpable, 0);
    assert_int_equal(core, 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_core_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
