# End-to-end tests: the real fieldsync-server on 127.0.0.1 and real device
# homes in temporary directories, driven through both command lines.  Each
# program links the shared helper (e2e.c) and needs both binaries built.
foreach(t test_e2e_sync test_e2e_trust test_e2e_faults test_e2e_hostile test_e2e_relay
    test_e2e_refused test_e2e_receipts test_e2e_clock test_e2e_laptop test_e2e_day
    test_e2e_hqcrypt test_e2e_catalog test_e2e_agenda
    test_e2e_pipeline test_e2e_quotes test_e2e_attack)
  fs_test(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c
    ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
  add_dependencies(${t} fieldsync-cli fieldsync-server)
  fs_test_properties(${t} TIMEOUT 300)
endforeach()
fs_test(test_e2e_enroll_token ${CMAKE_CURRENT_LIST_DIR}/test_e2e_enroll_token.c
  ${CMAKE_CURRENT_LIST_DIR}/e2e.c ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
add_dependencies(test_e2e_enroll_token fieldsync-cli fieldsync-server)
fs_test_properties(test_e2e_enroll_token TIMEOUT 300)
fs_test(test_e2e_csv ${CMAKE_CURRENT_LIST_DIR}/test_e2e_csv.c
  ${CMAKE_CURRENT_LIST_DIR}/e2e.c ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
add_dependencies(test_e2e_csv fieldsync-cli fieldsync-server)
fs_test_properties(test_e2e_csv TIMEOUT 300)

# Threaded end to end (the ThreadSanitizer build runs label "threaded"):
# concurrent signed requests against the body budget, idle connections held
# while a device syncs, three devices converging through one server.
fs_test_label(threaded test_e2e_hostile.signed_requests test_e2e_hostile.slow_clients test_e2e_sync.three_devices_converge)

# A lost laptop gives away nothing: copies of a used home (unlocked and
# locked) hold no key and no customer data, and cannot sync or enroll.
# no_customer_data needs the store's page cipher (fsi_store_open_keyed):
# label "page_cipher".
fs_test(test_e2e_thief ${CMAKE_CURRENT_LIST_DIR}/test_e2e_thief.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c
  ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
add_dependencies(test_e2e_thief fieldsync-cli fieldsync-server)
fs_test_properties(test_e2e_thief TIMEOUT 300)
fs_test_label(page_cipher test_e2e_thief.no_customer_data)

# The offline lease (expiry by a clock moved forward, renewal online, per
# manager) and the remote wipe (`revoke --wipe` shreds the device at its
# next contact; a forged order deletes nothing; `fieldsync wipe`).
fs_test(test_e2e_lease ${CMAKE_CURRENT_LIST_DIR}/test_e2e_lease.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c
  ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
add_dependencies(test_e2e_lease fieldsync-cli fieldsync-server)
fs_test_properties(test_e2e_lease TIMEOUT 300)
# A forgotten passphrase: escrow at enrollment (or the next sync), staff
# approval with one-time codes, `fieldsync unlock --recover`.
fs_test(test_e2e_recover ${CMAKE_CURRENT_LIST_DIR}/test_e2e_recover.c ${CMAKE_CURRENT_LIST_DIR}/e2e.c
  ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
add_dependencies(test_e2e_recover fieldsync-cli fieldsync-server)
fs_test_properties(test_e2e_recover TIMEOUT 300)
