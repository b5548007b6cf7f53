/* The listener's spare handle, on a real loop and real sockets: connections
 * that cannot be allocated are taken and closed, and the listener keeps
 * accepting afterwards (returning from the callback without uv_accept
 * would leave it paused for good). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spare.h"

struct fixture {
        uv_loop_t loop;
        uv_tcp_t listener;
        uv_tcp_t accepted;
        uv_timer_t limit;
        struct spare spare;
        int refuse_left; /* connections to refuse as if out of memory */
        int n_accepted;
        bool timed_out;
        int closed;
};

static void on_connection(uv_stream_t *listener, int status)
{
        struct fixture *f = listener->data;
        assert_int_equal(status, 0);
        if (f->refuse_left > 0) {
                f->refuse_left--;
                spare_refuse(&f->spare);
                return;
        }
        uv_tcp_init(&f->loop, &f->accepted);
        assert_int_equal(uv_accept(listener, (uv_stream_t *)&f->accepted), 0);
        f->n_accepted++;
        uv_stop(&f->loop);
}

static void on_limit(uv_timer_t *t)
{
        struct fixture *f = t->data;
        f->timed_out = true;
        uv_stop(&f->loop);
}

static void on_closed(uv_handle_t *h)
{
        ((struct fixture *)h->loop->data)->closed++;
}

static void on_spare_closed(struct spare *sp)
{
        ((struct fixture *)sp->data)->closed++;
}

static int connect_to(uint16_t port)
{
        struct sockaddr_in sa = {0};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_true(fd >= 0);
        /* Loopback connects complete in the backlog, before any accept. */
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        return fd;
}

static void test_refused_connections_do_not_pause_the_listener(void **state)
{
        static struct fixture f;
        struct sockaddr_in sa = {0};
        int namelen = sizeof sa;
        int fds[4];
        char byte;
        (void)state;

        assert_int_equal(uv_loop_init(&f.loop), 0);
        f.loop.data = &f;
        uv_tcp_init(&f.loop, &f.listener);
        f.listener.data = &f;
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(uv_tcp_bind(&f.listener, (struct sockaddr *)&sa, 0), 0);
        assert_int_equal(uv_listen((uv_stream_t *)&f.listener, 16, on_connection), 0);
        assert_int_equal(uv_tcp_getsockname(&f.listener, (struct sockaddr *)&sa, &namelen), 0);
        spare_init(&f.spare, &f.loop, (uv_stream_t *)&f.listener);
        f.spare.data = &f;
        uv_timer_init(&f.loop, &f.limit);
        f.limit.data = &f;
        uv_timer_start(&f.limit, on_limit, 10000, 0);

        /* Three refused in a row: the second and third arrive while the
         * spare is still closing the first, and wait for it. */
        f.refuse_left = 3;
        for (int i = 0; i < 4; i++) {
                fds[i] = connect_to(ntohs(sa.sin_port));
        }
        uv_run(&f.loop, UV_RUN_DEFAULT);
        assert_false(f.timed_out);
        assert_int_equal(f.n_accepted, 1);
        assert_int_equal(f.spare.refused, 3);
        for (int i = 0; i < 3; i++) {
                ssize_t n = recv(fds[i], &byte, 1, 0);
                assert_true(n == 0 || (n < 0 && errno == ECONNRESET)); /* closed */
                close(fds[i]);
        }
        close(fds[3]);

        uv_close((uv_handle_t *)&f.accepted, on_closed);
        uv_close((uv_handle_t *)&f.listener, on_closed);
        uv_close((uv_handle_t *)&f.limit, on_closed);
        spare_close(&f.spare, on_spare_closed);
        uv_run(&f.loop, UV_RUN_DEFAULT);
        assert_int_equal(f.closed, 4);
        assert_int_equal(uv_loop_close(&f.loop), 0); /* nothing left open */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_refused_connections_do_not_pause_the_listener),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
