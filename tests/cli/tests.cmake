# The device command line, driven through the real `fieldsync` binary.
fs_test(test_cli_offline ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_offline.c)
add_dependencies(test_cli_offline fieldsync-cli)
# Modes of what both programs leave on disk (stores, keys, TLS key).
fs_test(test_cli_perms ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_perms.c)
add_dependencies(test_cli_perms fieldsync-cli fieldsync-server)
# The CSV writer both programs share (cli/kit/output.c), cell by cell.
fs_test(test_cli_csv ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_csv.c)
target_link_libraries(test_cli_csv PRIVATE fieldsync_kit)
# init, unlock, lock and passwd: passphrases from files, standard input or
# none, the session keyring's cached key, its timeout (in a keyring of the
# test's own).
fs_test(test_cli_lock ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_lock.c)
add_dependencies(test_cli_lock fieldsync-cli)
# bash completion (cli/completion/fieldsync.bash) against both real programs.
add_test(NAME test_completion COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_completion.sh
  ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/cli/completion/fieldsync.bash)
# The manager's day: call log/list, tasks, the agenda of a local day and
# week (TZ=America/New_York, across a daylight-saving change) against head
# office's norms; bad input for every new verb changes nothing.
fs_test(test_cli_agenda ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_agenda.c)
add_dependencies(test_cli_agenda fieldsync-cli)
# Deals: add, edit, list, show, default probabilities, the lost reason,
# every bad input refused with the store unchanged, an order closing a deal.
fs_test(test_cli_deals ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_deals.c)
add_dependencies(test_cli_deals fieldsync-cli)
# Quotes made, sent, accepted into orders (at the quote's prices) or
# rejected; copies of quotes and orders; expiry; bad input changing nothing.
fs_test(test_cli_quotes ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_quotes.c)
add_dependencies(test_cli_quotes fieldsync-cli)
# Every command of both programs: --help exits 0, describes every option its
# usage names on a line of its own and shows an example (walked from the
# programs' own help, so a new verb is checked without a list).
add_test(NAME test_help COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_help.sh
  ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/cli/completion/fieldsync.bash)
