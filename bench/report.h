/*
 * report.h - the human side of a results document: one table row per
 * scenario and the project's goals checked against the numbers.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* report_goals: the goals of issue 7 evaluated on the scenario results
 * (an array of rows, borrowed): a new array of {"goal", "target",
 * "measured", "met"} (caller owns); goals whose scenario did not run are
 * left out. NULL when out of memory. */
cJSON *report_goals(const cJSON *scenarios);

/* report_print: the table of doc["scenarios"] and the goals of doc["goals"]. */
void report_print(FILE *out, const cJSON *doc);

#endif
