/*
 * ts-plot's capture reader (apps/plot/plot_pcap.c): frames whose lengths do
 * not add up are refused, not trusted; connections are found and chosen.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "plot_pcap.h"

#define CAPTURE(name) TS_SOURCE_DIR "/captures/" name ".pcap"

/* Ethernet + IPv4 (20) + TCP (20 + opt_len) + payload, lengths as given. */
static size_t build_frame(uint8_t *f, uint16_t ip_total, uint8_t doff_words, uint16_t frag, size_t payload)
{
    memset(f, 0, 14 + 60 + payload);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(ip_total >> 8);
    ip[3] = (uint8_t)ip_total;
    ip[6] = (uint8_t)(frag >> 8);
    ip[7] = (uint8_t)frag;
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 10, ip[15] = 2, ip[16] = 10, ip[19] = 1;
    uint8_t *tcp = ip + 20;
    tcp[0] = 0x9c, tcp[1] = 0x40; /* 40000 */
    tcp[2] = 0x14, tcp[3] = 0x51; /* 5201 */
    tcp[7] = 100;                 /* seq 100 */
    tcp[12] = (uint8_t)(doff_words << 4);
    tcp[13] = PLOT_TCP_ACK;
    return 14 + 20 + (size_t)doff_words * 4 + payload;
}

Test(plot_pcap, payload_length_comes_from_the_ip_total_length_not_the_frame)
{
    uint8_t f[200];
    size_t len = build_frame(f, 20 + 20 + 10, 5, 0, 10);
    struct plot_pkt p;
    /* Ethernet padding after the datagram is not payload. */
    cr_assert_eq(plot_parse_frame(f, len + 6, len + 6, &p), 1);
    cr_assert_eq(p.len, 10);
    cr_assert_eq(p.seq, 100);
    cr_assert_eq(p.src.port, 40000);
    cr_assert_eq(p.dst.port, 5201);
    cr_assert_eq(p.src.addr, 0x0a000002u);
}

Test(plot_pcap, a_segment_cut_by_the_snap_length_keeps_its_length_on_the_wire)
{
    uint8_t f[200];
    size_t len = build_frame(f, 20 + 20 + 100, 5, 0, 100);
    struct plot_pkt p;
    cr_assert_eq(plot_parse_frame(f, 14 + 40, len, &p), 1);
    cr_assert_eq(p.len, 100);
}

Test(plot_pcap, lengths_that_do_not_add_up_are_malformed)
{
    uint8_t f[200];
    struct plot_pkt p;
    size_t len = build_frame(f, 20 + 20 + 10, 5, 0, 10);
    cr_assert_eq(plot_parse_frame(f, 10, 10, &p), -1, "shorter than Ethernet");
    cr_assert_eq(plot_parse_frame(f, 14 + 19, 14 + 19, &p), -1, "shorter than an IPv4 header");
    len = build_frame(f, 20 + 20 + 500, 5, 0, 10);
    cr_assert_eq(plot_parse_frame(f, len, len, &p), -1, "total length beyond the frame");
    len = build_frame(f, 30, 5, 0, 0);
    cr_assert_eq(plot_parse_frame(f, len, len, &p), -1, "no room for the TCP header");
    len = build_frame(f, 20 + 20, 15, 0, 0);
    cr_assert_eq(plot_parse_frame(f, 80, 80, &p), -1, "data offset beyond the segment");
    len = build_frame(f, 20 + 20, 4, 0, 0);
    cr_assert_eq(plot_parse_frame(f, 80, 80, &p), -1, "data offset below 5 words");
    len = build_frame(f, 20 + 20, 5, 0, 0);
    f[14] = 0x44;
    cr_assert_eq(plot_parse_frame(f, len, len, &p), -1, "IHL below 5");
}

Test(plot_pcap, fragments_and_other_protocols_are_skipped)
{
    uint8_t f[200];
    struct plot_pkt p;
    size_t len = build_frame(f, 20 + 20, 5, 0x2000, 0);
    cr_assert_eq(plot_parse_frame(f, len, len, &p), 0, "a first fragment (MF)");
    len = build_frame(f, 20 + 20, 5, 0x0010, 0);
    cr_assert_eq(plot_parse_frame(f, len, len, &p), 0, "a later fragment");
    len = build_frame(f, 20 + 20, 5, 0, 0);
    f[14 + 9] = 17;
    cr_assert_eq(plot_parse_frame(f, len, len, &p), 0, "UDP");
    f[12] = 0x08, f[13] = 0x06;
    cr_assert_eq(plot_parse_frame(f, len, len, &p), 0, "ARP");
}

Test(plot_pcap, options_give_the_window_scale_and_sack_blocks)
{
    uint8_t f[200];
    size_t len = build_frame(f, 20 + 32, 8, 0, 0);
    uint8_t *opt = f + 14 + 20 + 20;
    const uint8_t opts[12] = {1, 3, 3, 20, 5, 10, 0, 0, 0, 1, 0, 0};
    memcpy(opt, opts, sizeof opts);
    /* a SACK option of 10 bytes running 2 bytes past the header: the walk stops, the segment stays */
    struct plot_pkt p;
    cr_assert_eq(plot_parse_frame(f, len, len, &p), 1);
    cr_assert(p.has_wscale);
    cr_assert_eq(p.wscale, 14, "RFC 7323 2.3: a shift above 14 counts as 14");
    cr_assert_eq(p.sack_count, 0);
    const uint8_t sack[12] = {1, 1, 5, 10, 0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0};
    memcpy(opt, sack, sizeof sack);
    cr_assert_eq(plot_parse_frame(f, len, len, &p), 1);
    cr_assert_eq(p.sack_count, 1);
    cr_assert_eq(p.sack[0].left, 1000);
    cr_assert_eq(p.sack[0].right, 2000);
}

Test(plot_pcap, busiest_connection_is_the_default_and_conn_picks_another)
{
    struct plot_capture cap;
    char err[256];
    cr_assert_eq(plot_capture_read(CAPTURE("live_tcp_bulk_to_linux"), &cap, err, sizeof err), 0, "%s", err);
    struct plot_conn c;
    cr_assert_eq(plot_conn_select(&cap, NULL, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.bytes_ab + c.bytes_ba >= 204800, true);
    char a[22], b[22];
    cr_assert_str_eq(plot_endpoint_format(&c.a, a), "10.0.0.2:60791");
    cr_assert_str_eq(plot_endpoint_format(&c.b, b), "10.0.0.1:5000");
    cr_assert_eq(plot_conn_select(&cap, "10.0.0.1:5000-10.0.0.2:60791", &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(plot_conn_select(&cap, "10.0.0.1:5000-10.0.0.2:1", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "no such connection") != NULL, "%s", err);
    cr_assert_eq(plot_conn_select(&cap, "10.0.0.1:5000", &c, err, sizeof err), -1);
    cr_assert(strstr(err, "expected") != NULL, "%s", err);
    cr_assert_eq(plot_conn_select(&cap, "10.0.0.1:70000-10.0.0.2:1", &c, err, sizeof err), -1);
    plot_capture_free(&cap);
}

Test(plot_pcap, a_capture_without_tcp_has_no_connection)
{
    struct plot_capture cap;
    char err[256];
    cr_assert_eq(plot_capture_read(CAPTURE("ping_small"), &cap, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cap.count, 0);
    cr_assert_gt(cap.not_tcp, 0);
    struct plot_conn c;
    cr_assert_eq(plot_conn_select(&cap, NULL, &c, err, sizeof err), -1);
    cr_assert(strstr(err, "no IPv4 TCP segment") != NULL, "%s", err);
    plot_capture_free(&cap);
}

Test(plot_pcap, a_missing_file_is_an_error_naming_it)
{
    struct plot_capture cap;
    char err[512];
    cr_assert_eq(plot_capture_read("/nonexistent/x.pcap", &cap, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/x.pcap") != NULL, "%s", err);
}
