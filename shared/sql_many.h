/*
 * sql_many.h - one prepared statement for many rows.
 *
 * A write batch touches tens of rooms; a statement per room costs a round
 * trip to MySQL each, and the writer waits for every one. These helpers
 * build statements whose repeated part (a row of a derived table, a
 * placeholder of an IN list) appears 1, 8 or 32 times, so that the
 * connection's statement cache holds three texts per statement, not one
 * per batch size. A caller splits its rows into chunks of those sizes and
 * pads a chunk with rows that match nothing (room id 0: no room has it).
 */
#ifndef CHAT_SQL_MANY_H
#define CHAT_SQL_MANY_H

#include <pthread.h>
#include <stddef.h>

#define SQL_MANY_MAX   32 /* rows in the largest statement */
#define SQL_MANY_PARTS 5  /* fixed, repeated, fixed, repeated, fixed */

/* A statement's template: parts[0], parts[2] and parts[4] appear once,
 * parts[1] and parts[3] once per row, joined by seps[1] and seps[3]; an
 * unused part is NULL. Texts are built on first use and live as long as
 * the process (the statement cache keeps pointers to them). */
struct sql_many {
    pthread_mutex_t lock;
    const char *parts[SQL_MANY_PARTS];
    const char *seps[SQL_MANY_PARTS];
    char *text[3]; /* for 1, 8 and 32 rows */
};

#define SQL_MANY_INIT(p0, p1, s1, p2, p3, s3, p4)                                                  \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, {(p0), (p1), (p2), (p3), (p4)}, {NULL, (s1), NULL, (s3), NULL}, \
        {                                                                                          \
            NULL, NULL, NULL                                                                       \
        }                                                                                          \
    }

/* sql_many_chunk: the rows the next statement of a run of n (> 0) rows
 * carries: 1, 8 or 32 (pad the chunk up to it when n is smaller). */
size_t sql_many_chunk(size_t n);

/* sql_many_text: the text of s for `rows` (1, 8 or 32) rows; NULL when
 * rows is another number or memory ran out. Thread-safe. */
const char *sql_many_text(struct sql_many *s, size_t rows);

#endif
