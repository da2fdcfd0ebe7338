/*
 * A standalone name server (--role=namesrv) with a broker that joins it (--namesrvAddr):
 * routes appear on registration, disappear on a clean broker stop (UNREGISTER_BROKER) and
 * after a silent broker's expiry; a restarted name server relearns the broker's routes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fmclient.h"
#include "fmtest.h"
#include "proto/codes.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int ns_port;

static int
route_code(const char *topic)
{
    fmt_resp r = {0};
    int code = -1;
    int fd = fmt_connect(ns_port, 3000);
    const char *kv[] = {"topic", topic, NULL};
    if (fd < 0) {
        return -1;
    }
    if (fmt_request(fd, FM_SERIALIZE_JSON, FM_REQ_GET_ROUTEINFO_BY_TOPIC, kv,
                    fm_slice_make(NULL, 0), &r) == 0) {
        code = r.cmd.code;
    }
    fmt_resp_free(&r);
    close(fd);
    return code;
}

static int
route_present(void *ud)
{
    return route_code(ud) == FM_RESP_SUCCESS;
}

static int
route_absent(void *ud)
{
    return route_code(ud) == FM_RESP_TOPIC_NOT_EXIST;
}

static void
test_standalone_namesrv_follows_broker_lifecycle(void **state)
{
    fmt_daemon ns, br;
    char addr[64], ns_arg[96];
    const char *ns_extra[] = {"--role=namesrv", "--brokerExpiryMs=1000", NULL};
    (void)state;
    memset(&ns, 0, sizeof(ns));
    memset(&br, 0, sizeof(br));
    assert_int_equal(fmt_daemon_start(&ns, ns_extra, 10000), 0);
    ns_port = ns.remoting_port;
    assert_int_equal(ns.namesrv_port, ns_port);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ns_port);
    snprintf(ns_arg, sizeof(ns_arg), "--namesrvAddr=%s", addr);
    {
        const char *br_extra[] = {"--brokerIP1=127.0.0.1", ns_arg, "--brokerName=broker-x",
                                  "--registerNameServerPeriod=300", NULL};
        assert_int_equal(fmt_daemon_start(&br, br_extra, 10000), 0);
    }
    /* a broker joining a remote name server runs none itself */
    assert_int_equal(br.namesrv_port, 0);
    assert_true(fmt_wait_until(route_present, "TBW102", 5000));

    /* clean stop: the broker unregisters, the route goes at once (well before expiry) */
    assert_int_equal(fmt_daemon_stop(&br, SIGTERM, 10000), 0);
    assert_true(fmt_wait_until(route_absent, "TBW102", 900));

    /* silent death: the name server expires the broker */
    assert_int_equal(fmt_daemon_restart(&br, 10000), 0);
    assert_true(fmt_wait_until(route_present, "TBW102", 5000));
    assert_true(fmt_daemon_stop(&br, SIGKILL, 5000) != 0);
    assert_true(fmt_wait_until(route_absent, "TBW102", 5000));
    assert_true(fmt_wait_log(&ns, "FM-NS-BROKER-EXPIRED", 1000));

    /* name server restart: the broker re-dials and registers again */
    assert_int_equal(fmt_daemon_restart(&br, 10000), 0);
    assert_int_equal(fmt_daemon_stop(&ns, SIGKILL, 5000) != 0, 1);
    {
        /* same port, so the broker's configured address stays valid */
        char port_arg[32];
        snprintf(port_arg, sizeof(port_arg), "--namesrvPort=%d", ns_port);
        snprintf(ns.extra[ns.n_extra++], sizeof(ns.extra[0]), "%s", port_arg);
        assert_int_equal(fmt_daemon_restart(&ns, 10000), 0);
    }
    assert_true(fmt_wait_until(route_present, "TBW102", 5000));
    fmt_daemon_stop(&br, SIGTERM, 10000);
    fmt_daemon_stop(&ns, SIGTERM, 10000);
    fmt_daemon_cleanup(&br);
    fmt_daemon_cleanup(&ns);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_standalone_namesrv_follows_broker_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
