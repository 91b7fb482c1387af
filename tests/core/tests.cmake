fs_test(test_convergence ${CMAKE_CURRENT_LIST_DIR}/test_convergence.c)
fs_test(test_hlc ${CMAKE_CURRENT_LIST_DIR}/test_hlc.c)
fs_test(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)
fs_test(test_merge ${CMAKE_CURRENT_LIST_DIR}/test_merge.c)
fs_test(test_domain ${CMAKE_CURRENT_LIST_DIR}/test_domain.c)
fs_test(test_faults ${CMAKE_CURRENT_LIST_DIR}/test_faults.c)
fs_test(test_policy ${CMAKE_CURRENT_LIST_DIR}/test_policy.c)
fs_test(test_refused ${CMAKE_CURRENT_LIST_DIR}/test_refused.c)
fs_test(test_crypt ${CMAKE_CURRENT_LIST_DIR}/test_crypt.c)
fs_test(test_reclock ${CMAKE_CURRENT_LIST_DIR}/test_reclock.c)
# Quotes: defaults, status moves, an accepted quote's prices on the device
# and at head office, expiry by the store's clock.
fs_test(test_quote ${CMAKE_CURRENT_LIST_DIR}/test_quote.c)
