# The fault suite (docs/faults.md): the real fieldsync and fieldsync-server
# on 127.0.0.1 killed, cut off, starved of disk and given wrong clocks, with
# counts from the environment (FS_FAULT_*; small by default, a long run by
# hand).  Each program links the kit (faults.c) and the end-to-end helpers;
# sanitizer builds run them with FS_FAULT_SANITIZED set, which lowers the
# defaults (an explicit FS_FAULT_* still wins).
set(FK_DIR ${CMAKE_CURRENT_LIST_DIR})
set(FK_E2E ${PROJECT_SOURCE_DIR}/tests/e2e)

# The proxy that resets and stalls connections (a test tool, not installed).
add_executable(fault_proxy ${FK_DIR}/fault_proxy.c)
target_compile_options(fault_proxy PRIVATE ${FS_WARNINGS})
target_link_libraries(fault_proxy PRIVATE m)

function(fk_test t)
  fs_test(${t} ${FK_DIR}/${t}.c ${FK_DIR}/faults.c ${FK_E2E}/e2e.c)
  target_include_directories(${t} PRIVATE ${FK_E2E})
  add_dependencies(${t} fieldsync-cli fieldsync-server)
  fs_test_properties(${t} TIMEOUT 2400)
  if(FS_SANITIZE OR FS_TSAN)
    get_property(tests GLOBAL PROPERTY FS_TESTS_OF_${t})
    set_property(TEST ${tests} APPEND PROPERTY ENVIRONMENT FS_FAULT_SANITIZED=1)
  endif()
endfunction()

# kill -9 of the client mid-push and mid-pull, SIGKILL/SIGTERM of the server
# while four devices sync.
fk_test(test_faults_kill)

# Connections reset and stalled by the proxy.
fk_test(test_faults_net)
add_dependencies(test_faults_net fault_proxy)
target_compile_definitions(test_faults_net PRIVATE FK_PROXY_PATH="$<TARGET_FILE:fault_proxy>")

# A full disk on the laptop and at head office.  A machine that cannot mount
# a small filesystem skips them (exit 77 after a "SKIP" line), it never
# passes them.
fk_test(test_faults_disk)
fs_test_properties(test_faults_disk SKIP_RETURN_CODE 77)

# Wrong clocks on the laptop and at head office (libfaketime), written
# against issue 11 items 5, 6 and 9; a program of its own so that it lands
# with the fix it checks.  Skipped (exit 77) without libfaketime.
fk_test(test_faults_clock)
fs_test_properties(test_faults_clock SKIP_RETURN_CODE 77)
