/* json_fast.h - a quick JSON decoder for the common case of the documents
 * fleetclock receives (status reports: ASCII text without string escapes).
 *
 * json_fast_loadb(buf, len) returns the tree json_loadb(buf, len,
 * JSON_REJECT_DUPLICATES, &err) returns for the same bytes, or NULL. NULL
 * means "not decoded here": the input is not valid JSON, or it uses
 * something this decoder leaves to jansson (a backslash escape or a byte
 * outside 0x20..0x7f in a string, an integer of more than 18 digits, a
 * number longer than 40 characters or out of range, nesting deeper than
 * JSON_FAST_MAX_DEPTH). The caller then asks json_loadb, which decides and
 * names the error; so this decoder never has to agree with jansson on what
 * is wrong, only on what is right. tests/unit/test_json_fast.c and the fuzz
 * target fuzz_json_fast check that: whatever it returns is json_equal to
 * jansson's tree, and it returns nothing that jansson rejects.
 *
 * Why: jansson's lexer reads through a per-byte callback; for a 1.5 KB
 * report it takes ~28 us, the largest cost of the collector's ingest. This
 * decoder builds the same jansson values in ~9 us (most of it jansson's
 * own object and hashtable code). Pure; allocates only
 * through jansson (so a json_set_alloc_funcs arena applies). */
#ifndef FLEETCLOCK_JSON_FAST_H
#define FLEETCLOCK_JSON_FAST_H

#include <jansson.h>
#include <stddef.h>

#define JSON_FAST_MAX_DEPTH 64

json_t *json_fast_loadb(const char *buf, size_t len);

#endif
