# The mutation test (tests/mutants/run.sh): a build of its own with every
# planted bug compiled in, the fast tests run once per mutant.  Only in the
# plain build (the sanitizer build would build it a second time for nothing).
if(NOT FS_SANITIZE AND NOT FS_MUTANTS AND NOT FS_FUZZ)
  add_test(NAME test_mutants
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run.sh ${PROJECT_SOURCE_DIR}
            ${PROJECT_BINARY_DIR}/mutants)
  set_tests_properties(test_mutants PROPERTIES TIMEOUT 1500 RUN_SERIAL TRUE)
endif()
