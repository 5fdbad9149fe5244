/* check_report.c - the bench's goal check on the bigstore results. */
#include "report.h"

#include <check.h>
#include <string.h>

static cJSON *probe(const char *label, double p99, double goal, int samples, const char *error)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "label", label);
    cJSON_AddNumberToObject(p, "samples", samples);
    cJSON_AddNumberToObject(p, "p99Ms", p99);
    cJSON_AddNumberToObject(p, "goalP99Ms", goal);
    if (error)
        cJSON_AddStringToObject(p, "error", error);
    return p;
}

/* goal: the goal whose text starts with `start`, NULL when none. */
static const cJSON *goal(const cJSON *goals, const char *start)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, goals)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(g, "goal");
        if (cJSON_IsString(t) && strncmp(t->valuestring, start, strlen(start)) == 0)
            return g;
    }
    return NULL;
}

static int met(const cJSON *g)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "met"));
}

START_TEST(test_report_store_goals_at_or_under_and_within_twice)
{
    cJSON *rows = cJSON_CreateArray();
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "scenario", "bigstore");
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(row, "store"), "messages", 200000);
    cJSON *probes = cJSON_AddObjectToObject(row, "probes");
    cJSON_AddItemToObject(probes, "a", probe("history a", 25, 30, 100, NULL));
    cJSON_AddItemToObject(probes, "b", probe("enter b", 10, 10, 100, NULL)); /* exactly at */
    cJSON_AddItemToObject(probes, "c", probe("text c", 5, 30, 4, "no ACK in time"));
    cJSON_AddItemToObject(probes, "d", probe("since d", 0, 30, 0, "did not connect"));
    cJSON *cmp = cJSON_AddObjectToObject(row, "compare");
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(cmp, "store"), "messages", 10000);
    cJSON *cp = cJSON_AddObjectToObject(cmp, "probes");
    cJSON_AddItemToObject(cp, "a", probe("history a", 10, 30, 100, NULL)); /* x2.5 */
    cJSON_AddItemToObject(cp, "b", probe("enter b", 5, 10, 100, NULL));    /* x2.0 */
    cJSON_AddItemToArray(rows, row);

    cJSON *goals = report_goals(rows);
    const cJSON *g;
    ck_assert_ptr_nonnull(g = goal(goals, "p99 history a, 200000-message store"));
    ck_assert(met(g));
    ck_assert_ptr_nonnull(g = goal(goals, "p99 history a, 200000 against 10000"));
    ck_assert(!met(g));
    ck_assert_ptr_nonnull(g = goal(goals, "p99 enter b, 200000-message store"));
    ck_assert(met(g)); /* at the goal is within it */
    ck_assert_ptr_nonnull(g = goal(goals, "p99 enter b, 200000 against 10000"));
    ck_assert(met(g));
    /* a probe that stopped early misses, however fast its samples were */
    ck_assert_ptr_nonnull(g = goal(goals, "p99 text c, 200000-message store (stopped early)"));
    ck_assert(!met(g));
    /* not one answer: missed, with no measured value */
    ck_assert_ptr_nonnull(g = goal(goals, "p99 since d, 200000-message store (no answer)"));
    ck_assert(!met(g));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "measured")));
    cJSON_Delete(goals);
    cJSON_Delete(rows);
}
END_TEST

START_TEST(test_report_no_store_goals_without_the_scenario)
{
    cJSON *rows = cJSON_CreateArray();
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "scenario", "bigstore");
    cJSON_AddStringToObject(row, "error", "store unreachable");
    cJSON_AddItemToObject(cJSON_AddObjectToObject(row, "probes"), "a",
                          probe("history a", 25, 30, 100, NULL));
    cJSON_AddItemToArray(rows, row);
    cJSON *goals = report_goals(rows);
    ck_assert_int_eq(cJSON_GetArraySize(goals), 0); /* a failed row is not judged */
    cJSON_Delete(goals);
    cJSON_Delete(rows);
}
END_TEST

Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *t = tcase_create("core");
    tcase_add_test(t, test_report_store_goals_at_or_under_and_within_twice);
    tcase_add_test(t, test_report_no_store_goals_without_the_scenario);
    suite_add_tcase(s, t);
    return s;
}
