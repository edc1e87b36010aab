/*
 * Reading ts-plot's SVG back in tests: find elements by a class word, read
 * their attributes, turn the space-separated data-t / data-v lists into
 * numbers. Plain string scanning of the regular output ts-plot writes (one
 * element per mark, attributes in double quotes), not a general XML parser.
 */
#ifndef TS_TEST_PLOT_SVG_SCAN_H
#define TS_TEST_PLOT_SVG_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* The whole file, NUL-terminated (malloc'd), or NULL. */
char *plot_scan_read_file(const char *path);

/* The next element at or after from whose class attribute holds the word cls and that has the
   attribute attr (NULL: any); returns its '<', or NULL. */
const char *plot_scan_next(const char *from, const char *cls, const char *attr);
/* How many elements plot_scan_next finds in svg. */
size_t plot_scan_count(const char *svg, const char *cls, const char *attr);
/* Copies attribute name of the element at elem into out; false if it has none. */
bool plot_scan_attr(const char *elem, const char *name, char *out, size_t outlen);
double plot_scan_attr_num(const char *elem, const char *name); /* NaN if missing */
/* Parses the space-separated numbers of attribute name into out (up to max); returns how many there were
   (which may exceed max), or 0 when the attribute is missing. The attribute may be long: read in place. */
size_t plot_scan_list(const char *elem, const char *name, double *out, size_t max);

#endif
