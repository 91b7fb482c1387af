# The layout's rules on the source tree (tests/layout/check_layout.sh).
add_test(NAME test_layout COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_layout.sh
  ${PROJECT_SOURCE_DIR})
