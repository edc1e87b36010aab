/*
 * Turns captures into seed corpora for the fuzz targets:
 *   pcap2corpus OUT_FRAME_DIR OUT_SEQUENCE_DIR CAPTURE...
 * Each frame becomes one file for fuzz_frame; each capture becomes one
 * sequence file for fuzz_sequence (its frames in order, 1 ms apart).
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static int convert(const char *capture, const char *frame_dir, const char *seq_dir, int index)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(capture, err);
    if (p == NULL) {
        fprintf(stderr, "pcap2corpus: %s: %s\n", capture, err);
        return -1;
    }
    static uint8_t seq[1 << 20];
    size_t seq_len = 0;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    int frame = 0;
    while (pcap_next_ex(p, &h, &bytes) == 1) {
        char path[4096];
        snprintf(path, sizeof path, "%s/c%03d-f%03d", frame_dir, index, frame++);
        if (write_file(path, bytes, h->caplen) != 0)
            fprintf(stderr, "pcap2corpus: cannot write %s\n", path);
        if (seq_len + 3 + h->caplen <= sizeof seq && h->caplen <= 0xffff) {
            seq[seq_len++] = (uint8_t)(h->caplen >> 8);
            seq[seq_len++] = (uint8_t)h->caplen;
            seq[seq_len++] = 1;
            memcpy(seq + seq_len, bytes, h->caplen);
            seq_len += h->caplen;
        }
    }
    pcap_close(p);
    char path[4096];
    snprintf(path, sizeof path, "%s/c%03d", seq_dir, index);
    return write_file(path, seq, seq_len);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: pcap2corpus OUT_FRAME_DIR OUT_SEQUENCE_DIR CAPTURE...\n");
        return 2;
    }
    int failures = 0;
    for (int i = 3; i < argc; i++)
        failures += convert(argv[i], argv[1], argv[2], i - 3) != 0;
    return failures == 0 ? 0 : 1;
}
