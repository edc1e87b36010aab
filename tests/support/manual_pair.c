/* Two hand-driven stacks joined by a queue link (manual_pair.h). */
#include "manual_pair.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "sockapi_pair.h"

static int mp_link_transmit(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    (void)now;
    struct mp_link *link = ctx;
    if (link->count == MP_LINK_FRAMES || len > MP_FRAME_MAX) {
        link->dropped++;
        return -ENOBUFS;
    }
    memcpy(link->frames[link->count], frame, len);
    link->len[link->count++] = len;
    return 0;
}

static struct ts_stack *mp_stack(ts_ipv4_addr addr, uint8_t mac_last, uint64_t seed, struct mp_link *out)
{
    struct ts_stack_config cfg;
    ts_stack_config_init(&cfg);
    const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, mac_last};
    memcpy(cfg.mac, mac, sizeof(mac));
    cfg.addr = addr;
    cfg.prefix_len = 24;
    cfg.seed = seed;
    struct ts_link link = {.ctx = out, .transmit = mp_link_transmit, .mtu = 1500};
    return ts_stack_new(&cfg, &link);
}

void manual_pair_init(struct manual_pair *mp)
{
    memset(mp, 0, sizeof(*mp));
    mp->now = TS_SEC(1000);
    mp->stack_a = mp_stack(SOCKAPI_ADDR_A, 1, 11, &mp->to_b);
    mp->stack_b = mp_stack(SOCKAPI_ADDR_B, 2, 22, &mp->to_a);
    cr_assert_not_null(mp->stack_a);
    cr_assert_not_null(mp->stack_b);
    mp->net_a = ts_net_attach(mp->stack_a);
    mp->net_b = ts_net_attach(mp->stack_b);
    cr_assert_not_null(mp->net_a);
    cr_assert_not_null(mp->net_b);
}

void manual_pair_fini(struct manual_pair *mp)
{
    ts_net_detach(mp->net_a);
    ts_net_detach(mp->net_b);
    cr_expect_eq(ts_stack_free(mp->stack_a), 0, "stack a leaked packet buffers");
    cr_expect_eq(ts_stack_free(mp->stack_b), 0, "stack b leaked packet buffers");
}

unsigned manual_pair_deliver(struct manual_pair *mp, struct mp_link *link, struct ts_net *net)
{
    static struct mp_link batch; /* large; the tests run one at a time per process */
    memcpy(&batch, link, sizeof(batch));
    link->count = 0;
    for (unsigned i = 0; i < batch.count; i++) {
        if (link->inspect != NULL)
            link->inspect(link->inspect_ctx, batch.frames[i], batch.len[i]);
        ts_net_drive_input(net, mp->now, batch.frames[i], batch.len[i]);
    }
    return batch.count;
}

void manual_pair_run_until_quiet(struct manual_pair *mp, int max_steps)
{
    for (int step = 0; step < max_steps; step++) {
        mp->now += TS_MSEC(1);
        unsigned moved = manual_pair_deliver(mp, &mp->to_b, mp->net_b) + manual_pair_deliver(mp, &mp->to_a, mp->net_a);
        ts_net_drive_poll(mp->net_a, mp->now);
        ts_net_drive_poll(mp->net_b, mp->now);
        if (moved == 0 && mp->to_a.count == 0 && mp->to_b.count == 0)
            return;
    }
}
