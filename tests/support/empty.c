/* Keeps ts_test_support non-empty before any helper exists. */
typedef int ts_test_support_empty;
