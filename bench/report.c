/*
 * report.c - the printed table and the goal check of a bench run (see
 * report.h). Reads only the keys scenarios.c writes.
 */
#include "report.h"

#include <stdio.h>
#include <string.h>

/* first_child: the first element of an array or object, NULL for others. */
static const cJSON *first_child(const cJSON *a)
{
    return a ? a->child : NULL;
}

static const cJSON *find_row(const cJSON *scenarios, const char *name)
{
    const cJSON *row;
    for (row = first_child(scenarios); row; row = row->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(row, "scenario");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0 &&
            !cJSON_GetObjectItemCaseSensitive(row, "error"))
            return row;
    }
    return NULL;
}

/* value: row[key], or row["cpu"][key] when cpu is set; -1 when absent. */
static double value(const cJSON *row, const char *key, int cpu)
{
    if (!row)
        return -1;
    if (cpu)
        row = cJSON_GetObjectItemCaseSensitive(row, "cpu");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void add_goal(cJSON *goals, const char *goal, const char *unit, double target,
                     double measured, int higher_is_better, const char *where)
{
    if (measured < 0)
        return;
    cJSON *g = cJSON_CreateObject();
    if (!g)
        return;
    int met = higher_is_better ? measured >= target : measured < target;
    cJSON_AddStringToObject(g, "goal", goal);
    cJSON_AddStringToObject(g, "unit", unit);
    cJSON_AddNumberToObject(g, "target", target);
    cJSON_AddNumberToObject(g, "measured", measured);
    cJSON_AddStringToObject(g, "from", where);
    cJSON_AddBoolToObject(g, "met", met);
    /* how far off, as a factor of the target */
    cJSON_AddNumberToObject(g, "ratio", target > 0 ? measured / target : 0);
    cJSON_AddItemToArray(goals, g);
}

/* add_store_goals: the goals of issue "message store at scale" on the
 * bigstore row: every probe's p99 at or under its goal, and within twice
 * the figure of the smaller store it is compared with. A probe that
 * stopped early (time-out, ERROR) misses both, whatever its samples say. */
static void add_store_goals(cJSON *goals, const cJSON *big)
{
    const cJSON *probes = cJSON_GetObjectItemCaseSensitive(big, "probes");
    const cJSON *cmp = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(big, "compare"), "probes");
    double msgs = value(cJSON_GetObjectItemCaseSensitive(big, "store"), "messages", 0);
    double cmp_msgs = value(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(big, "compare"), "store"),
        "messages", 0);
    const cJSON *p;
    for (p = first_child(probes); p; p = p->next) {
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(p, "label");
        int stopped = cJSON_GetObjectItemCaseSensitive(p, "error") != NULL;
        double p99 = value(p, "p99Ms", 0);
        if (!cJSON_IsString(label))
            continue;
        char goal[160];
        if (value(p, "samples", 0) <= 0) {
            /* not one answer: missed, with nothing to show as measured */
            snprintf(goal, sizeof goal, "p99 %s, %.0f-message store (no answer)",
                     label->valuestring, msgs);
            cJSON *g = cJSON_CreateObject();
            cJSON_AddStringToObject(g, "goal", goal);
            cJSON_AddStringToObject(g, "unit", "ms");
            cJSON_AddNumberToObject(g, "target", value(p, "goalP99Ms", 0));
            cJSON_AddNullToObject(g, "measured");
            cJSON_AddStringToObject(g, "from", "bigstore");
            cJSON_AddBoolToObject(g, "met", 0);
            cJSON_AddItemToArray(goals, g);
            continue;
        }
        snprintf(goal, sizeof goal, "p99 %s, %.0f-message store%s", label->valuestring, msgs,
                 stopped ? " (stopped early)" : "");
        size_t at = (size_t) cJSON_GetArraySize(goals);
        add_goal(goals, goal, "ms", value(p, "goalP99Ms", 0), p99, 0, "bigstore");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(cmp, p->string);
        double c99 = value(c, "p99Ms", 0);
        if (c99 > 0) {
            snprintf(goal, sizeof goal, "p99 %s, %.0f against %.0f messages", label->valuestring,
                     msgs, cmp_msgs);
            add_goal(goals, goal, "x", 2, p99 / c99, 0, "bigstore and its --compare file");
        }
        /* at or under the target passes; an early stop never does */
        for (cJSON *g = cJSON_GetArrayItem(goals, (int) at); g; g = g->next) {
            int met = !stopped && value(g, "measured", 0) <= value(g, "target", 0);
            cJSON_ReplaceItemInObjectCaseSensitive(g, "met", cJSON_CreateBool(met));
        }
    }
}

cJSON *report_goals(const cJSON *scenarios)
{
    cJSON *goals = cJSON_CreateArray();
    if (!goals)
        return NULL;
    const cJSON *steady = find_row(scenarios, "steady");
    const cJSON *sat = find_row(scenarios, "saturation");
    const cJSON *conns = find_row(scenarios, "connections");
    add_goal(goals, "delivered msg/s end to end, every message stored (p99 < bound)", "msg/s",
             10000, value(sat, "bestDeliveredPerSec", 0), 1, "saturation best passing step");
    add_goal(goals, "delivered msg/s, peak of any step", "msg/s", 10000,
             value(sat, "peakDeliveredPerSec", 0), 1, "saturation peak");
    add_goal(goals, "p99 end-to-end latency at the steady rate", "ms", 10,
             value(steady, "e2eP99Ms", 0), 0, "steady");
    add_goal(goals, "relay memory per idle connection", "bytes", 8192,
             value(conns, "relayBytesPerConnection", 0), 0, "connections");
    add_goal(goals, "relay CPU per delivered message (steady)", "us", 20,
             value(steady, "relayUsPerMsg", 1), 0, "steady");
    add_goal(goals, "relay CPU per delivered message (saturation)", "us", 20,
             value(sat, "relayUsPerMsg", 1), 0, "saturation best passing step");
    add_store_goals(goals, find_row(scenarios, "bigstore"));
    return goals;
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* print_row: one table line per row and per part; returns how many were
 * measured while the stack was busy with other work (marked '*'). */
static int print_row(FILE *out, const cJSON *row)
{
    int busy = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "busy"));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, "table");
    if (t)
        fprintf(out, "%c%-29s %-56s %-40s %s\n", busy ? '*' : ' ', str(t, "scenario"),
                str(t, "result"), str(t, "latency"), str(t, "cpu"));
    const cJSON *part;
    for (part = first_child(cJSON_GetObjectItemCaseSensitive(row, "parts")); part;
         part = part->next)
        busy += print_row(out, part);
    return busy;
}

void report_print(FILE *out, const cJSON *doc)
{
    const cJSON *git = cJSON_GetObjectItemCaseSensitive(doc, "git");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "machine");
    fprintf(out, "\nchat-bench %s  commit %s  %g x %s, %.1f GiB\n", str(doc, "startedAt"),
            str(git, "commit"), value(m, "nproc", 0), str(m, "model"),
            value(m, "memTotalKiB", 0) / 1048576.0);
    fprintf(out, "latency: ms, e2e = send to peer's MESSAGE p50/p99/max, ack = send to ACK p50/p99;"
                 " cpu: per delivered message (share of one core)\n\n");
    fprintf(out, " %-29s %-56s %-40s %s\n", "scenario", "result", "latency / memory", "cpu");
    fprintf(out, " %-29s %-56s %-40s %s\n", "--------", "------", "----------------", "---");
    const cJSON *row;
    int busy = 0;
    for (row = first_child(cJSON_GetObjectItemCaseSensitive(doc, "scenarios")); row;
         row = row->next)
        busy += print_row(out, row);
    if (busy)
        fprintf(out, "* measured while the relay or FerretDB were busy with work from outside "
                     "the bench: not representative\n");

    const cJSON *g;
    const cJSON *goals = cJSON_GetObjectItemCaseSensitive(doc, "goals");
    if (cJSON_GetArraySize(goals) > 0)
        fprintf(out, "\ngoals\n");
    for (g = first_child(goals); g; g = g->next) {
        int met = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "met"));
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(g, "measured")))
            fprintf(out, "  %-6s %-66s target %8.6g %-5s measured       none\n",
                    met ? "met" : "MISSED", str(g, "goal"), value(g, "target", 0), str(g, "unit"));
        else
            fprintf(out, "  %-6s %-66s target %8.6g %-5s measured %10.6g  (x%.2f of target)\n",
                    met ? "met" : "MISSED", str(g, "goal"), value(g, "target", 0), str(g, "unit"),
                    value(g, "measured", 0), value(g, "ratio", 0));
    }
}
