# The standard workload generator (bench/workload.c): digests and record 0
# of WORKLOAD.md are pinned so the generator can never silently drift.
fs_test(test_workload ${PROJECT_SOURCE_DIR}/tests/bench/test_workload.c
        ${PROJECT_SOURCE_DIR}/bench/workload.c)
target_include_directories(test_workload PRIVATE ${PROJECT_SOURCE_DIR}/bench)
