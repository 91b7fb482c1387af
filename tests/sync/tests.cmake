# sync/: codec, keys, envelope, the data key file and the device lock
# (storekey).  The codec and envelope tests build their
# sample batches (batches.h) from the standard workload generator
# (bench/workload.c).
foreach(name codec envelope keys storekey)
  fs_test(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c
          ${PROJECT_SOURCE_DIR}/bench/workload.c)
  target_include_directories(test_${name} PRIVATE ${PROJECT_SOURCE_DIR}/bench)
endforeach()

# The head-office request handler (server-stub/hq/) driven through fs_hq_admit and
# fs_hq_handle, with devices and envelopes made in memory.  One test: main()
# enrolls the devices once and the cases continue one history (test_pull
# reads what test_push pushed, on the chain it left).
fs_test(test_hq_handle WHOLE ${CMAKE_CURRENT_LIST_DIR}/test_hq_handle.c)

# Enrollment tokens (single use, expiry, manager) through fs_hq_handle.
fs_test(test_tokens ${CMAKE_CURRENT_LIST_DIR}/test_tokens.c)

# Format stability: a checked-in envelope sealed with fixed keys must keep
# opening to the same batch (tests/sync/golden/).  `test_golden --write DIR`
# regenerates it after a deliberate format change.
fs_test(test_golden ${CMAKE_CURRENT_LIST_DIR}/test_golden.c)

# Head office's signed orders to a device (sync/hqmsg.c): leases and wipe
# orders verify only when genuine, for this device and unaltered; the
# offline lease by a clock the test drives; crypto-shredding a home.
fs_test(test_hqmsg ${CMAKE_CURRENT_LIST_DIR}/test_hqmsg.c)

# Head office's side of leases and wipe orders (server-stub/hq/lease.c)
# through fs_hq_handle: lease lengths per manager, who gets a lease, wipe
# orders with every refusal, confirmations only from the device.
fs_test(test_hq_lease ${CMAKE_CURRENT_LIST_DIR}/test_hq_lease.c)
# A forgotten passphrase: the escrow and recovery codes (sync/escrow.c) and
# head office's rules for them (server-stub/hq/recover.c) through
# fs_hq_admit / fs_hq_handle, devices made in memory, a test clock.
fs_test(test_recovery ${CMAKE_CURRENT_LIST_DIR}/test_recovery.c)
