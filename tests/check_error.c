/*
 * tests/check_error.c -- the error core: status names, the thread-local
 * message and its C location, clearing.
 */
#include "check_util.h"
#include "tp_ffi.h"

#include <string.h>

START_TEST(test_status_str_distinct) {
    tp_status all[] = { TP_OK, TP_ERR_ARG, TP_ERR_NOMEM, TP_ERR_CUDA, TP_ERR_NO_CUDA,
                        TP_ERR_IO, TP_ERR_FORMAT, TP_ERR_INTERNAL, TP_ABORTED };
    int n = (int)(sizeof all / sizeof all[0]);
    for (int i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(tp_status_str(all[i]));
        ck_assert_str_ne(tp_status_str(all[i]), "unknown status");
        for (int j = 0; j < i; j++) ck_assert_str_ne(tp_status_str(all[i]), tp_status_str(all[j]));
    }
    ck_assert_str_eq(tp_status_str((tp_status)42), "unknown status");
    ck_assert_str_eq(tp_status_str(TP_ABORTED), "interrupted");
}
END_TEST

START_TEST(test_error_message_and_where) {
    tp_error_clear();
    ck_assert_str_eq(tp_last_error(), "");
    tp_status st = TP_ERROR(TP_ERR_ARG, "q must be >= 2, got %d", 1);
    int line = __LINE__ - 1;
    ck_assert_int_eq(st, TP_ERR_ARG);
    ck_assert_str_eq(tp_last_error(), "q must be >= 2, got 1");
    char want[64];
    snprintf(want, sizeof want, "check_error.c:%d", line);
    ck_assert_msg(strstr(tp_last_error_where(), want) != NULL, "where = '%s', want '%s'", tp_last_error_where(), want);
    tp_error_clear();
    ck_assert_str_eq(tp_last_error(), "");
    ck_assert_str_eq(tp_last_error_where(), "");
}
END_TEST

START_TEST(test_error_message_truncated_safely) {
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    TP_ERROR(TP_ERR_IO, "%s", big);
    size_t n = strlen(tp_last_error());
    ck_assert_uint_gt(n, 100);
    ck_assert_uint_lt(n, sizeof big - 1);
}
END_TEST

START_TEST(test_interrupt_flag) {
    tp_interrupt_clear();
    ck_assert_int_eq(tp_interrupted(), 0);
    tp_interrupt_raise();
    ck_assert_int_eq(tp_interrupted(), 1);
    tp_interrupt_clear();
    ck_assert_int_eq(tp_interrupted(), 0);
}
END_TEST

Suite *error_suite(void) {
    Suite *s = suite_create("error");
    TCase *tc = tp_test_tcase("core", 10);
    tcase_add_test(tc, test_status_str_distinct);
    tcase_add_test(tc, test_error_message_and_where);
    tcase_add_test(tc, test_error_message_truncated_safely);
    tcase_add_test(tc, test_interrupt_flag);
    suite_add_tcase(s, tc);
    return s;
}
