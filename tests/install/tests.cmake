# The installed library as an application sees it: `cmake --install` into a
# fresh prefix, the exported symbols (only fs_*), the installed headers on
# their own, the example built through pkg-config and through the CMake
# package, and run against the installed server (tests/install/run.sh).
# Release builds only: a sanitizer-built library cannot be linked by a
# program built without the sanitizer.
if(NOT FS_SANITIZE AND NOT FS_TSAN AND NOT FS_FUZZ)
  add_test(NAME test_install COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh
    ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(test_install PROPERTIES TIMEOUT 300)
endif()
