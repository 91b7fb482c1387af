# Transport: the device's libcurl client (sync/http_client.c, in the library)
# against head office's HTTPS front end and certificate generator
# (server-stub/https/, linked as the internal library fieldsync_https).  One
# test: test_tlsgen writes the certificates the later cases use and
# start_main_server starts the one server they share.
fs_test(test_transport WHOLE ${CMAKE_CURRENT_LIST_DIR}/test_transport.c)
fs_test_properties(test_transport TIMEOUT 120)

# The device's push and pull protocol against head office's real handler on
# the real front end, in process, with a man in the middle rewriting acks
# and (FS_TEST_HOOKS builds) deterministic fault points.
fs_test(test_acks ${CMAKE_CURRENT_LIST_DIR}/test_acks.c)
fs_test_properties(test_acks TIMEOUT 120)

# The device API of sync an application relies on (cancelling during push
# and pull, then resuming; the versioned option and stats structs; two
# devices on two threads) against head office's real handler on the real
# front end, in process.
fs_test(test_sync_api ${CMAKE_CURRENT_LIST_DIR}/test_sync_api.c)
fs_test_properties(test_sync_api TIMEOUT 300)

# The threaded tests the ThreadSanitizer build runs (scripts/test.sh):
# the front end's threads with the in-process client, the protocol under
# overlapped requests, two devices syncing on two threads, and the real
# server taking concurrent and idle connections.
fs_test_label(threaded test_transport test_sync_api.two_threads test_sync_api.cancel_pull test_acks.tampered_acks test_acks.crash_before_commit)
