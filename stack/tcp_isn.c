/*
 * Initial sequence numbers (RFC 6528) and SYN cookies, on top of SipHash-2-4.
 *
 *   tcp_isn()          -> siphash24(isn_key, tuple) + now / 4
 *   tcp_cookie_make()  -> [counter mod 32][MSS index][MAC]
 *   tcp_cookie_check() -> counter in {now, now - 1 period}?  MAC recomputed and equal?  -> MSS
 *
 * Pure functions: no clock, no state, no I/O. The keys live in the caller's
 * struct tcp_secret, drawn once from the stack's seeded generator.
 */
#include "tcp_isn.h"

/* ---- SipHash-2-4 ---------------------------------------------------------- */

/*
 * Aumasson & Bernstein, "SipHash: a fast short-input PRF" (2012), section 2.
 * Four 64-bit words of state, initialised from the key and the ASCII of
 * "somepseudorandomlygeneratedbytes"; each 8-byte little-endian message word
 * goes through c = 2 rounds, then d = 4 rounds finalise.
 */
#define SIP_C_ROUNDS 2
#define SIP_D_ROUNDS 4

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static uint64_t rotl64(uint64_t x, unsigned k)
{
    return (x << k) | (x >> (64 - k));
}

/* Byte-by-byte, so the result does not depend on the host's byte order or alignment. */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t w = 0;
    for (unsigned i = 0; i < 8; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* The paper's SipRound: two add-rotate-xor half-rounds on (v0, v1) and (v2, v3), then crossed. */
static void sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl64(s->v0, 32);

    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16);
    s->v3 ^= s->v2;

    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21);
    s->v3 ^= s->v0;

    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static void sip_compress(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    for (int i = 0; i < SIP_C_ROUNDS; i++)
        sip_round(s);
    s->v0 ^= m;
}

/*
 * The last word carries the 0..7 leftover bytes in its low bytes and the
 * message length mod 256 in its top byte, so messages that differ only by
 * trailing zero bytes still hash differently.
 */
static uint64_t sip_final_word(const uint8_t *in, size_t tail_start, size_t len)
{
    uint64_t w = (uint64_t)(len & 0xff) << 56;
    for (size_t i = tail_start; i < len; i++)
        w |= (uint64_t)in[i] << (8 * (i - tail_start));
    return w;
}

uint64_t siphash24(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = load_le64(key);
    uint64_t k1 = load_le64(key + 8);
    struct sip_state s = {
        .v0 = k0 ^ 0x736f6d6570736575ull, /* "somepseu" */
        .v1 = k1 ^ 0x646f72616e646f6dull, /* "dorandom" */
        .v2 = k0 ^ 0x6c7967656e657261ull, /* "lygenera" */
        .v3 = k1 ^ 0x7465646279746573ull, /* "tedbytes" */
    };

    size_t whole = len - len % 8;
    for (size_t off = 0; off < whole; off += 8)
        sip_compress(&s, load_le64(in + off));
    /* Indexes rather than pointer arithmetic, so (NULL, 0) is a valid empty message. */
    sip_compress(&s, sip_final_word(in, whole, len));

    s.v2 ^= 0xff;
    for (int i = 0; i < SIP_D_ROUNDS; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* ---- hash inputs ------------------------------------------------------------ */

/* Big enough for the largest message below: tuple (12) + peer ISN (4) + counter (8) + MSS index (1). */
#define HASH_INPUT_MAX 32

/* Serialises fields into a fixed byte layout, so a hash never depends on struct padding or host order. */
struct hash_input {
    uint8_t bytes[HASH_INPUT_MAX];
    size_t len;
};

static void put_be(struct hash_input *h, uint64_t value, unsigned nbytes)
{
    for (unsigned i = 0; i < nbytes; i++)
        h->bytes[h->len + i] = (uint8_t)(value >> (8 * (nbytes - 1 - i)));
    h->len += nbytes;
}

/*
 * The canonical order is RFC 6528's argument order: local address, local port,
 * remote address, remote port, each in network byte order. Swapping the two
 * ends gives a different input, so the two directions of a connection (or two
 * stacks talking to each other with the same key) get unrelated values.
 */
static void put_tuple(struct hash_input *h, const struct tcp_four_tuple *t)
{
    put_be(h, t->local_addr, 4);
    put_be(h, t->local_port, 2);
    put_be(h, t->remote_addr, 4);
    put_be(h, t->remote_port, 2);
}

/*
 * Times are microseconds from an arbitrary origin and expected to be >= 0. They
 * are read as unsigned so that even a negative time gives a defined (if
 * meaningless) value rather than undefined behaviour.
 */
static uint64_t time_units(ts_time now, uint64_t unit_us)
{
    return (uint64_t)now / unit_us;
}

/* ---- initial sequence numbers --------------------------------------------- */

/* RFC 6528 3: the ISN clock ticks every 4 microseconds, 250,000 times a second. */
#define ISN_TICK_US 4u

/*
 * RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey).
 * F is SipHash-2-4, a PRF, keyed with 128 secret bits: an observer who sees
 * the ISNs of its own connections learns nothing about another tuple's offset.
 * M keeps the ISNs of successive incarnations of one tuple moving forward at
 * the RFC 9293 3.4.1 rate, so old duplicates fall outside the new window.
 */
uint32_t tcp_isn(const struct tcp_secret *secret, const struct tcp_four_tuple *t, ts_time now)
{
    struct hash_input h = {.len = 0};
    put_tuple(&h, t);
    uint64_t f = siphash24(secret->isn_key, h.bytes, h.len);
    uint64_t m = time_units(now, ISN_TICK_US);
    return (uint32_t)(m + f);
}

/* ---- SYN cookies ---------------------------------------------------------- */

/*
 * Cookie layout (bit 31 first):
 *
 *    31      27 26  24 23                                    0
 *   +----------+------+---------------------------------------+
 *   | counter  | MSS  |                  MAC                  |
 *   | (5 bits) | (3)  |               (24 bits)               |
 *   +----------+------+---------------------------------------+
 *
 * counter   (now / 64 s) mod 32: when the cookie was made.
 * MSS       index into cookie_mss_table.
 * MAC       low 24 bits of siphash24(cookie_key, tuple || peer ISN || full
 *           counter || MSS index). The MAC binds the full, unreduced counter,
 *           so a cookie cannot come back to life when the 5-bit field wraps
 *           (every 32 * 64 s, about 34 minutes), and it binds the MSS index, so
 *           flipping either field breaks it.
 *
 * An attacker who cannot see our SYN-ACKs has to guess 24 bits per attempt,
 * for one tuple and one of the two valid periods.
 */
#define COOKIE_PERIOD_US ((uint64_t)TS_SEC(64))
#define COOKIE_COUNTER_BITS 5u
#define COOKIE_MSS_BITS 3u
#define COOKIE_MAC_BITS 24u
#define COOKIE_COUNTER_SHIFT (COOKIE_MSS_BITS + COOKIE_MAC_BITS)
#define COOKIE_MSS_SHIFT COOKIE_MAC_BITS
#define COOKIE_COUNTER_MASK ((1u << COOKIE_COUNTER_BITS) - 1)
#define COOKIE_MSS_MASK ((1u << COOKIE_MSS_BITS) - 1)
#define COOKIE_MAC_MASK ((1u << COOKIE_MAC_BITS) - 1)

/*
 * The 8 MSS values a cookie can carry, ascending. A peer's MSS is rounded down
 * to the nearest entry, so the table sits on the values real paths announce:
 *   536   RFC 9293 3.7.1 default (576-byte IPv4 datagrams); also the floor
 *   1200  conservative tunnels and small-MTU paths
 *   1360  IPsec / VPN encapsulations
 *   1400  common VPN and cloud overlay clamps
 *   1440  paths with 20 bytes of tunnel or option overhead (and IPv6 on Ethernet)
 *   1452  PPPoE (1492 MTU)
 *   1460  Ethernet (1500 MTU)
 *   8960  jumbo frames (9000 MTU)
 * Rounding down costs at most a few percent of payload on the unusual paths
 * between two entries, never an oversized segment.
 */
static const uint16_t cookie_mss_table[1u << COOKIE_MSS_BITS] = {
    536, 1200, 1360, 1400, 1440, 1452, 1460, 8960,
};

/*
 * The largest table value not above the peer's MSS. A peer that announced less
 * than 536 still gets index 0: the cookie cannot encode anything smaller, and
 * 536 is the size every IPv4 host must accept (RFC 9293 3.7.1, RFC 1122 3.3.2).
 */
static unsigned cookie_mss_index(uint16_t peer_mss)
{
    unsigned idx = 0;
    for (unsigned i = 1; i < sizeof cookie_mss_table / sizeof cookie_mss_table[0]; i++) {
        if (cookie_mss_table[i] <= peer_mss)
            idx = i;
    }
    return idx;
}

static uint32_t cookie_mac(const struct tcp_secret *secret, const struct tcp_four_tuple *t, uint32_t peer_isn,
                           uint64_t counter, unsigned mss_index)
{
    struct hash_input h = {.len = 0};
    put_tuple(&h, t);
    put_be(&h, peer_isn, 4);
    put_be(&h, counter, 8);
    put_be(&h, mss_index, 1);
    return (uint32_t)siphash24(secret->cookie_key, h.bytes, h.len) & COOKIE_MAC_MASK;
}

static uint32_t cookie_assemble(uint64_t counter, unsigned mss_index, uint32_t mac)
{
    uint32_t field = (uint32_t)(counter & COOKIE_COUNTER_MASK);
    return (field << COOKIE_COUNTER_SHIFT) | ((uint32_t)mss_index << COOKIE_MSS_SHIFT) | mac;
}

uint32_t tcp_cookie_make(const struct tcp_secret *secret, const struct tcp_four_tuple *t, uint32_t peer_isn,
                         uint16_t mss, ts_time now)
{
    uint64_t counter = time_units(now, COOKIE_PERIOD_US);
    unsigned idx = cookie_mss_index(mss);
    return cookie_assemble(counter, idx, cookie_mac(secret, t, peer_isn, counter, idx));
}

/*
 * A cookie is accepted if it was made in the current period or the one before
 * (so it lives between 64 and 128 s), and the MAC recomputed for that full
 * counter matches. The 5-bit field only selects which of the two candidates to
 * try; comparing it modulo 32 handles the wrap from 31 to 0.
 */
bool tcp_cookie_check(const struct tcp_secret *secret, const struct tcp_four_tuple *t, uint32_t peer_isn,
                      uint32_t cookie, ts_time now, uint16_t *mss)
{
    uint64_t current = time_units(now, COOKIE_PERIOD_US);
    uint32_t field = (cookie >> COOKIE_COUNTER_SHIFT) & COOKIE_COUNTER_MASK;
    unsigned idx = (cookie >> COOKIE_MSS_SHIFT) & COOKIE_MSS_MASK;
    uint32_t mac = cookie & COOKIE_MAC_MASK;

    for (uint64_t age = 0; age <= 1 && age <= current; age++) {
        uint64_t counter = current - age;
        if ((counter & COOKIE_COUNTER_MASK) != field)
            continue;
        if (cookie_mac(secret, t, peer_isn, counter, idx) != mac)
            return false;
        if (mss != NULL)
            *mss = cookie_mss_table[idx];
        return true;
    }
    return false;
}
