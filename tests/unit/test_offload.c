/*
 * Offloads without a kernel: a link that advertises checksum offload and TSO
 * gets TCP super-segments with partial checksums and GSO metadata; a plain link
 * never does; a super-segment that arrives with a partial checksum is taken
 * only when the device vouched for it (struct ts_frame_meta), and dropped and
 * counted when it comes without that promise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tapstack/netdev.h"
#include "tcp_peer.h"
#include "wire/checksum.h"
#include "wire/tcp.h"

#define ETH_IP_LEN (14 + 20)
#define BULK (100 * 1024)

static struct tp t;

static void open_connection(void)
{
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    tp_open_passive(&t, &o);
    t.next_frame = t.f.sent_count;
}

/* Completes a partial checksum the way a device does: the field already holds the pseudo-header sum. */
static void complete_checksum(uint8_t *frame, size_t len, const struct ts_frame_meta *meta)
{
    uint16_t sum = csum_finish(csum_add(0, frame + meta->csum_start, len - meta->csum_start));
    be16_put(frame + meta->csum_start + meta->csum_offset, sum);
}

static const struct fx_frame *sent_frame(size_t i)
{
    cr_assert_lt(i, t.f.sent_count, "the stack sent only %zu frames", t.f.sent_count);
    return &t.f.sent[i];
}

Test(offload, tso_link_gets_a_super_segment_with_a_partial_checksum_and_the_mss_as_gso_size)
{
    tp_init_offload(&t, NULL, TS_LINK_TX_CSUM | TS_LINK_TSO4, 65535);
    open_connection();
    static uint8_t data[BULK];
    tp_pattern(data, sizeof data, 3);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);

    static uint8_t frame[70000];
    const struct fx_frame *fr = sent_frame(t.next_frame);
    memcpy(frame, fr->data, fr->len);
    const struct ts_frame_meta *meta = &fr->meta;
    /* Linux options: timestamps take 12 of the 1460 bytes of MSS. */
    cr_assert_eq(meta->gso_size, 1448);
    cr_assert(meta->flags & TS_FRAME_CSUM_PARTIAL);
    cr_assert_eq(meta->csum_start, ETH_IP_LEN);
    cr_assert_eq(meta->csum_offset, TCP_CSUM_OFFSET);
    cr_assert_gt(fr->len, 1514, "one frame holds more than one MTU: %zu bytes", fr->len);
    size_t tcp_len = fr->len - ETH_IP_LEN;
    size_t payload = tcp_len - (size_t)(frame[ETH_IP_LEN + 12] >> 4) * 4;
    cr_assert_eq(payload % 1448, 0, "whole segments only: %zu bytes", payload);
    /* The IP header describes the whole super-segment, with a valid header checksum. */
    cr_assert_eq(be16_get(frame + 14 + 2), fr->len - 14);
    cr_assert_eq(csum_finish(csum_add(0, frame + 14, 20)), 0);
    /* Completed as the device would, the checksum verifies and the data is the application's. */
    complete_checksum(frame, fr->len, meta);
    struct tcp_hdr h;
    const uint8_t *seg_data;
    size_t seg_len;
    cr_assert_eq(tcp_parse(frame + ETH_IP_LEN, tcp_len, FX_STACK_IP, FX_PEER_IP, &h, &seg_data, &seg_len),
                 TCP_PARSE_OK);
    cr_assert_eq(h.seq, t.stack_nxt);
    cr_assert_eq(seg_len, payload);
    cr_assert_eq(memcmp(seg_data, data, seg_len), 0);
    cr_assert_geq(fx_counter(&t.f, "tcp.tx_tso_segments"), 1);
    tp_fini(&t);
}

Test(offload, checksum_offload_alone_keeps_segments_within_the_mss)
{
    tp_init_offload(&t, NULL, TS_LINK_TX_CSUM, 0);
    open_connection();
    static uint8_t data[BULK];
    tp_pattern(data, sizeof data, 4);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    cr_assert_gt(t.f.sent_count, t.next_frame);
    for (size_t i = t.next_frame; i < t.f.sent_count; i++) {
        const struct fx_frame *fr = sent_frame(i);
        cr_assert_leq(fr->len, 1514);
        cr_assert(fr->meta.flags & TS_FRAME_CSUM_PARTIAL);
        cr_assert_eq(fr->meta.gso_size, 0);
    }
    tp_fini(&t);
}

Test(offload, plain_link_gets_standard_frames_with_full_checksums)
{
    tp_init(&t, NULL);
    open_connection();
    static uint8_t data[BULK];
    tp_pattern(data, sizeof data, 5);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    cr_assert_gt(t.f.sent_count, t.next_frame);
    for (size_t i = t.next_frame; i < t.f.sent_count; i++) {
        const struct fx_frame *fr = sent_frame(i);
        struct tcp_hdr h;
        const uint8_t *seg_data;
        size_t seg_len;
        cr_assert_leq(fr->len, 1514);
        cr_assert_eq(fr->meta.flags, 0);
        cr_assert_eq(tcp_parse(fr->data + ETH_IP_LEN, fr->len - ETH_IP_LEN, FX_STACK_IP, FX_PEER_IP, &h,
                               &seg_data, &seg_len),
                     TCP_PARSE_OK);
    }
    cr_assert_eq(fx_counter(&t.f, "tcp.tx_tso_segments"), 0);
    tp_fini(&t);
}

Test(offload, a_link_that_claims_offloads_without_transmit_meta_is_refused)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    struct ts_link link = {.transmit = NULL, .mtu = 1500, .offloads = TS_LINK_TX_CSUM};
    cr_assert_null(ts_stack_new(&cfg, &link));
}

/* A GSO super-segment from the peer as the kernel hands it over: the checksum field holds the pseudo sum. */
static size_t build_gso_frame(uint8_t *frame, const uint8_t *data, size_t len, struct ts_frame_meta *meta)
{
    struct fx_tcp_segment seg = {.src = FX_PEER_IP, .dst = FX_STACK_IP, .sport = t.peer_port,
                                 .dport = t.stack_port, .seq = t.peer_nxt, .ack = t.stack_nxt,
                                 .flags = TCP_ACK | TCP_PSH, .window = t.peer_window, .opt = tp_options(&t),
                                 .data = data, .len = len};
    size_t n = fx_build_tcp(frame, &seg);
    tcp_checksum_partial(frame + ETH_IP_LEN, n - ETH_IP_LEN, FX_PEER_IP, FX_STACK_IP);
    *meta = (struct ts_frame_meta){.flags = TS_FRAME_CSUM_PARTIAL, .csum_start = ETH_IP_LEN,
                                   .csum_offset = TCP_CSUM_OFFSET, .gso_size = 1448};
    return n;
}

Test(offload, gso_super_segment_with_partial_checksum_is_taken_with_the_promise_and_acked_at_once)
{
    tp_init(&t, NULL);
    open_connection();
    static uint8_t data[20 * 1448];
    static uint8_t frame[70000];
    tp_pattern(data, sizeof data, 6);
    struct ts_frame_meta meta;
    size_t n = build_gso_frame(frame, data, sizeof data, &meta);
    ts_stack_input_meta(t.f.st, t.now, frame, n, &meta);
    t.peer_nxt += sizeof data;
    cr_assert_eq(fx_counter(&t.f, "tcp.rx_csum_trusted"), 1);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_checksum"), 0);
    /* RFC 5681 4.2: twenty full-sized segments in one: the ACK goes out now, not after the delayed-ACK timer. */
    tp_expect(&t, TCP_ACK, t.stack_nxt, t.peer_nxt);
    static uint8_t got[sizeof data];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, got, sizeof got, false), (ssize_t)sizeof got);
    cr_assert_eq(memcmp(got, data, sizeof data), 0);
    tp_fini(&t);
}

Test(offload, the_same_super_segment_without_the_promise_is_dropped_and_counted)
{
    tp_init(&t, NULL);
    open_connection();
    static uint8_t data[20 * 1448];
    static uint8_t frame[70000];
    tp_pattern(data, sizeof data, 7);
    struct ts_frame_meta meta;
    size_t n = build_gso_frame(frame, data, sizeof data, &meta);
    ts_stack_input(t.f.st, t.now, frame, n);
    /* A metadata block that promises nothing is no promise either. */
    struct ts_frame_meta none = {.gso_size = 1448};
    ts_stack_input_meta(t.f.st, t.now, frame, n, &none);
    cr_assert_eq(fx_counter(&t.f, "tcp.drop_bad_checksum"), 2);
    cr_assert_eq(fx_counter(&t.f, "tcp.rx_csum_trusted"), 0);
    uint8_t got[16];
    cr_assert_lt(ts_pcb_recv(t.pcb, t.now, got, sizeof got, false), 0);
    tp_fini(&t);
}

Test(offload, udp_datagram_with_partial_checksum_is_taken_only_with_the_promise)
{
    tp_init(&t, NULL);
    int err = 0;
    struct ts_pcb *u = ts_pcb_open(t.f.st, TS_PCB_UDP, &err);
    cr_assert_not_null(u);
    struct ts_sockaddr local = {.addr = FX_STACK_IP, .port = 5000};
    cr_assert_eq(ts_pcb_bind(u, &local), 0);
    static uint8_t frame[2000];
    size_t n = fx_build_udp(frame, FX_PEER_IP, 4000, FX_STACK_IP, 5000, "hello", 5);
    /* As the kernel would leave it: the pseudo-header sum only. */
    uint32_t pseudo = csum_pseudo_ipv4(FX_PEER_IP, FX_STACK_IP, 17, 13);
    be16_put(frame + ETH_IP_LEN + 6, (uint16_t)~csum_finish(pseudo));
    ts_stack_input(t.f.st, t.now, frame, n);
    cr_assert_eq(fx_counter(&t.f, "udp.drop_bad_checksum"), 1);
    struct ts_frame_meta meta = {.flags = TS_FRAME_CSUM_PARTIAL, .csum_start = ETH_IP_LEN, .csum_offset = 6};
    ts_stack_input_meta(t.f.st, t.now, frame, n, &meta);
    char got[8];
    cr_assert_eq(ts_pcb_recvfrom(u, got, sizeof got, NULL, false, NULL), 5);
    cr_assert_eq(memcmp(got, "hello", 5), 0);
    ts_pcb_close(u);
    tp_fini(&t);
}

Test(offload, netdev_link_advertises_offloads_only_for_a_device_that_takes_metadata)
{
    struct ts_netdev *a, *b;
    cr_assert_eq(ts_memlink_pair(1500, &a, &b), 0);
    struct ts_link link = ts_netdev_link(a);
    cr_assert_eq(link.offloads, 0);
    cr_assert_null(link.transmit_meta);
    /* A device without transmit_meta that claims offloads still gets none. */
    a->offloads = TS_LINK_TX_CSUM | TS_LINK_TSO4;
    a->tso_max = 65535;
    link = ts_netdev_link(a);
    cr_assert_eq(link.offloads, 0);
    /* And refuses a frame that asks for one, rather than sending it half-made. */
    uint8_t frame[60] = {0};
    struct ts_frame_meta meta = {.flags = TS_FRAME_CSUM_PARTIAL, .csum_start = 34, .csum_offset = 16};
    cr_assert_eq(ts_netdev_transmit_meta(a, 0, frame, sizeof frame, &meta), -EOPNOTSUPP);
    ts_netdev_destroy(a);
    ts_netdev_destroy(b);
}

/*
 * Super-segments make this likely: one arrives out of order and reaches past RCV.NXT plus the free
 * buffer. Only what fits behind the gap may be kept, or bytes acknowledged after the gap fills
 * would never reach the application.
 */
Test(offload, out_of_order_data_past_the_buffer_edge_is_trimmed_and_nothing_acknowledged_is_lost)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.limits.tcp_rcvbuf_default = 8192;
    tp_init(&t, &cfg);
    open_connection();
    static uint8_t data[1000 + 8192];
    tp_pattern(data, sizeof data, 8);
    uint32_t start = t.peer_nxt;
    /* [1000, 9192) first: out of order and 1000 bytes past the 8192-byte buffer's edge. */
    tp_send(&t, TCP_ACK | TCP_PSH, start + 1000, t.stack_nxt, data + 1000, 8192);
    tp_expect(&t, TCP_ACK, t.stack_nxt, start);
    /* Then the gap. */
    tp_send(&t, TCP_ACK | TCP_PSH, start, t.stack_nxt, data, 1000);
    const struct tp_seg *ack = tp_expect(&t, TCP_ACK, t.stack_nxt, start + 8192);
    uint32_t acked = ack->h.ack - start;
    static uint8_t got[sizeof data];
    cr_assert_eq(ts_pcb_recv(t.pcb, t.now, got, sizeof got, false), (ssize_t)acked,
                 "every acknowledged byte must be readable");
    cr_assert_eq(memcmp(got, data, acked), 0);
    tp_fini(&t);
}

/* RFC 896: with data in flight, the short tail of what is queued waits for the ACK, super-segment or not. */
Test(offload, nagle_holds_a_super_segments_short_tail_while_data_is_in_flight)
{
    tp_init_offload(&t, NULL, TS_LINK_TX_CSUM | TS_LINK_TSO4, 65535);
    open_connection();
    static uint8_t data[1000 + 3 * 1448 + 552];
    tp_pattern(data, sizeof data, 9);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, 1000), 1000);
    cr_assert_eq(t.f.sent_count, t.next_frame + 1, "the first small segment goes at once (nothing in flight)");
    t.next_frame = t.f.sent_count;
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data + 1000, sizeof data - 1000), (ssize_t)(sizeof data - 1000));
    cr_assert_eq(t.f.sent_count, t.next_frame + 1, "one super-segment, and the tail held back");
    const struct fx_frame *fr = sent_frame(t.next_frame);
    size_t payload = fr->len - ETH_IP_LEN - (size_t)(fr->data[ETH_IP_LEN + 12] >> 4) * 4;
    cr_assert_eq(payload, 3 * 1448);
    cr_assert_eq(fr->meta.gso_size, 1448);
    tp_fini(&t);
}

/* ---- gathering: TCP data handed to the link where it lies in the send ring ---------------- */

Test(offload, gathered_segments_carry_the_applications_bytes_even_where_the_send_ring_wraps)
{
    tp_init_offload(&t, NULL, TS_LINK_TX_CSUM | TS_LINK_TX_GATHER, 0);
    open_connection();
    enum { TOTAL = 200000, CHUNK = 7000 };
    static uint8_t data[TOTAL];
    tp_pattern(data, TOTAL, 7);
    uint32_t base = t.stack_nxt; /* the sequence number of the first data byte */
    size_t queued = 0, checked = 0;
    uint32_t highest = base;
    for (int round = 0; round < 2000 && checked < TOTAL; round++) {
        if (queued < TOTAL) {
            ssize_t n = ts_pcb_send(t.pcb, t.now, data + queued, TOTAL - queued < CHUNK ? TOTAL - queued : CHUNK);
            if (n > 0)
                queued += (size_t)n;
        }
        const struct tp_seg *s;
        uint32_t newest_start = 0;
        int segments = 0;
        while ((s = tp_try_next(&t)) != NULL) {
            if (s->len == 0)
                continue;
            size_t off = s->h.seq - base;
            cr_assert_leq(off + s->len, queued, "only bytes the application gave");
            cr_assert_eq(memcmp(s->data, data + off, s->len), 0, "the bytes at offset %zu are the application's", off);
            if (off + s->len > checked)
                checked = off + s->len;
            if ((int32_t)(s->h.seq + (uint32_t)s->len - highest) > 0)
                highest = s->h.seq + (uint32_t)s->len;
            newest_start = s->h.seq;
            segments++;
        }
        /* All but the newest segment is acknowledged: the ring never drains, so its bytes wrap around. */
        t.now += TS_MSEC(1);
        tp_send_ack(&t, segments > 1 ? newest_start : highest);
    }
    cr_assert_eq(checked, TOTAL, "every byte went out");
    cr_assert_gt(t.f.gathered_frames, 0, "data segments went out in parts");
    cr_assert_gt(t.f.gathered_parts, 2 * t.f.gathered_frames, "some segment's data wrapped around the ring (3 parts)");
    tp_fini(&t);
}

/* The peer answers the stack's ARP request for it (RFC 826), so what waited for the answer leaves. */
static void peer_answers_arp(void)
{
    uint8_t frame[64];
    size_t n = fx_build_arp(frame, 2, fx_peer_mac, FX_PEER_IP, fx_stack_mac, FX_STACK_IP, fx_stack_mac);
    fx_input(&t.f, t.now, frame, n);
}

Test(offload, a_gathered_segment_that_waits_for_arp_takes_its_own_copy_and_leaves_whole)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    cfg.timing.arp_reachable = TS_SEC(5);
    tp_init_offload_unresolved(&t, &cfg, TS_LINK_TX_CSUM | TS_LINK_TX_GATHER, 0);
    /* The handshake's SYN-ACK waits for ARP like anything else; the answer lets it out. */
    tp_listen(&t, 4);
    struct fx_tcp_options o = tp_linux_syn_options(&t);
    struct fx_tcp_segment syn = {.seq = t.peer_iss, .flags = TCP_SYN, .window = 65535, .opt = o};
    tp_input(&t, syn);
    peer_answers_arp();
    const struct tp_seg *sa = tp_next(&t);
    cr_assert_eq(sa->h.flags, TCP_SYN | TCP_ACK);
    cr_assert_eq(sa->h.ack, t.peer_iss + 1);
    t.stack_iss = sa->h.seq;
    t.stack_nxt = sa->h.seq + 1;
    t.peer_nxt = t.peer_iss + 1;
    t.peer_ts = true;
    tp_send_ack(&t, t.stack_nxt);
    int err;
    t.pcb = ts_pcb_accept(t.listener, &err);
    cr_assert_not_null(t.pcb);
    /* The entry expires while the connection is idle: the next segment must wait for a new answer. */
    tp_advance(&t, t.now + TS_SEC(10));
    cr_assert_geq(fx_counter(&t.f, "arp.expired"), 1);
    static uint8_t data[2 * 1448]; /* two full segments (MSS 1460 less timestamps): Nagle holds nothing back */
    tp_pattern(data, sizeof data, 5);
    cr_assert_eq(ts_pcb_send(t.pcb, t.now, data, sizeof data), (ssize_t)sizeof data);
    cr_assert_null(tp_try_next(&t), "nothing leaves before the peer's address is known again");
    size_t gathered_before = t.f.gathered_frames;
    peer_answers_arp();
    size_t got = 0;
    const struct tp_seg *s;
    while ((s = tp_try_next(&t)) != NULL) {
        cr_assert_eq(memcmp(s->data, data + (s->h.seq - t.stack_nxt), s->len), 0, "the application's bytes");
        got += s->len;
    }
    cr_assert_eq(got, sizeof data, "all of it left once the address was resolved");
    cr_assert_eq(t.f.gathered_frames, gathered_before,
                 "a queued packet owns its bytes: it leaves whole, not pointing into the send ring");
    tp_fini(&t);
}

static int refuse_frame(void *ctx, ts_time now, const uint8_t *frame, size_t len)
{
    (void)ctx, (void)now, (void)frame, (void)len;
    return -EIO;
}

static int refuse_frame_meta(void *ctx, ts_time now, const uint8_t *frame, size_t len, const struct ts_frame_meta *m)
{
    (void)m;
    return refuse_frame(ctx, now, frame, len);
}

static int refuse_parts(void *ctx, ts_time now, const struct ts_frame_part *parts, unsigned nparts,
                        const struct ts_frame_meta *meta)
{
    (void)ctx, (void)now, (void)parts, (void)nparts, (void)meta;
    return -EIO;
}

Test(offload, a_gathering_link_must_sum_the_data_itself_and_provide_transmit_gather)
{
    struct ts_stack_config cfg;
    fx_default_config(&cfg);
    struct ts_link link = {.transmit = refuse_frame, .transmit_meta = refuse_frame_meta,
                           .transmit_gather = refuse_parts, .mtu = 1500, .offloads = TS_LINK_TX_GATHER};
    cr_assert_null(ts_stack_new(&cfg, &link), "gathering without checksum offload: the core would have to sum");
    link.offloads = TS_LINK_TX_CSUM | TS_LINK_TX_GATHER;
    link.transmit_gather = NULL;
    cr_assert_null(ts_stack_new(&cfg, &link), "gathering advertised without transmit_gather");
    link.transmit_gather = refuse_parts;
    struct ts_stack *st = ts_stack_new(&cfg, &link);
    cr_assert_not_null(st, "checksum offload, gathering and the function: accepted");
    cr_assert_eq(ts_stack_free(st), 0);
}
