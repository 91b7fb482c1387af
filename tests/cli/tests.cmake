# The device command line, driven through the real `fieldsync` binary.
fs_test(test_cli_offline ${PROJECT_SOURCE_DIR}/tests/cli/test_cli_offline.c)
add_dependencies(test_cli_offline fieldsync-cli)
