/*
 * Counters: one plain struct per layer, one field per event or drop reason.
 * Each list below is the single place a counter is declared: the struct field
 * and its printable name both come from it. "drop_*" counters count input
 * thrown away, one per reason, so "why was my packet ignored?" has an answer.
 */
#ifndef TS_COUNTERS_H
#define TS_COUNTERS_H

#include <stdint.h>

#define TS_ETH_COUNTERS(X)                                                                                       \
    X(rx_frames) X(rx_bytes) X(tx_frames) X(tx_bytes) X(drop_runt) X(drop_not_for_us) X(drop_own_source)          \
    X(drop_unknown_ethertype) X(drop_tx_too_big) X(drop_tx_link)

#define TS_ARP_COUNTERS(X)                                                                                       \
    X(rx_requests) X(rx_replies) X(tx_requests) X(tx_replies) X(tx_announcements) X(resolved) X(updated)          \
    X(refreshed) X(expired) X(failed) X(evicted) X(drop_truncated) X(drop_unsupported) X(drop_bad_op)             \
    X(drop_bad_sender) X(drop_address_conflict) X(drop_not_for_us) X(drop_queue_full) X(drop_table_full)          \
    X(drop_unresolved)

#define TS_IP_COUNTERS(X)                                                                                        \
    X(rx_datagrams) X(rx_delivered) X(tx_datagrams) X(tx_fragments) X(tx_fragmented) X(loopback)                  \
    X(drop_truncated) X(drop_bad_version) X(drop_bad_header_length) X(drop_bad_total_length)                      \
    X(drop_bad_checksum) X(drop_bad_options) X(drop_not_for_us) X(drop_bad_source) X(drop_unknown_protocol)       \
    X(drop_tx_no_route) X(drop_tx_too_big) X(rx_fragments) X(reassembled) X(drop_frag_duplicate)                 \
    X(drop_frag_overlap) X(drop_frag_timeout) X(drop_frag_too_big) X(drop_frag_bad_length) X(drop_frag_too_many) \
    X(drop_frag_no_memory) X(drop_frag_table_full)

#define TS_ICMP_COUNTERS(X)                                                                                      \
    X(rx_messages) X(tx_messages) X(rx_echo_requests) X(tx_echo_replies) X(tx_echo_requests) X(rx_echo_replies)   \
    X(rx_errors) X(tx_errors) X(tx_errors_rate_limited) X(drop_truncated) X(drop_bad_checksum)                    \
    X(drop_broadcast_echo) X(drop_unknown_type) X(drop_error_quote_truncated) X(drop_error_not_ours)             \
    X(drop_error_no_socket) X(drop_echo_reply_no_socket) X(drop_bogus_mtu) X(drop_source_quench)                 \
    X(drop_redirect) X(drop_rcvbuf_full)

#define TS_UDP_COUNTERS(X)                                                                                       \
    X(rx_datagrams) X(tx_datagrams) X(drop_truncated) X(drop_bad_length) X(drop_bad_checksum) X(drop_no_socket)   \
    X(drop_rcvbuf_full)

#define TS_TCP_COUNTERS(X)                                                                                       \
    X(rx_segments) X(tx_segments) X(retransmits) X(fast_retransmits) X(rto_expired) X(active_opens)                \
    X(passive_opens) X(established) X(resets_sent) X(resets_received) X(challenge_acks)                          \
    X(challenge_acks_limited) X(syn_cookies_sent) X(syn_cookies_accepted) X(timeouts) X(zero_window_probes)      \
    X(keepalive_probes) X(delayed_acks) X(drop_truncated) X(drop_bad_offset) X(drop_bad_checksum)                \
    X(drop_bad_option) X(drop_broadcast) X(drop_no_socket) X(drop_rst_no_socket) X(drop_out_of_window)         \
    X(drop_paws) X(drop_bad_ack) X(drop_syn_in_window) X(drop_rst_out_of_window) X(drop_no_ack)                \
    X(drop_listen_overflow) X(drop_bad_cookie) X(drop_ooo_full) X(drop_after_shutdown) X(drop_syn_sent_bad)     \
    X(drop_data_after_close) X(drop_syn_fin) X(drop_icmp_out_of_window)                                        \
    X(oow_acks_limited) X(tx_tso_segments) X(rx_csum_trusted) X(acks_at_batch_end)

#define TS_SOCK_COUNTERS(X) X(opened) X(closed) X(errors_reported) X(lookups) X(lookup_probes)

#define TS_MEM_COUNTERS(X) X(pbuf_allocs) X(pbuf_frees) X(drop_no_memory)

#define TS_COUNTER_FIELD(name) uint64_t name;

struct ts_eth_counters { TS_ETH_COUNTERS(TS_COUNTER_FIELD) };
struct ts_arp_counters { TS_ARP_COUNTERS(TS_COUNTER_FIELD) };
struct ts_ip_counters { TS_IP_COUNTERS(TS_COUNTER_FIELD) };
struct ts_icmp_counters { TS_ICMP_COUNTERS(TS_COUNTER_FIELD) };
struct ts_udp_counters { TS_UDP_COUNTERS(TS_COUNTER_FIELD) };
struct ts_tcp_counters { TS_TCP_COUNTERS(TS_COUNTER_FIELD) };
struct ts_sock_counters { TS_SOCK_COUNTERS(TS_COUNTER_FIELD) };
struct ts_mem_counters { TS_MEM_COUNTERS(TS_COUNTER_FIELD) };

struct ts_counters {
    struct ts_eth_counters eth;
    struct ts_arp_counters arp;
    struct ts_ip_counters ip;
    struct ts_icmp_counters icmp;
    struct ts_udp_counters udp;
    struct ts_tcp_counters tcp;
    struct ts_sock_counters sock;
    struct ts_mem_counters mem;
};

#endif
