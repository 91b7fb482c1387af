# sync/: codec, keys, envelope.  The codec and envelope tests build their
# sample batches (batches.h) from the standard workload generator
# (bench/workload.c).
foreach(name codec envelope keys)
  fs_test(test_${name} ${CMAKE_CURRENT_LIST_DIR}/test_${name}.c
          ${PROJECT_SOURCE_DIR}/bench/workload.c)
  target_include_directories(test_${name} PRIVATE ${PROJECT_SOURCE_DIR}/bench)
endforeach()
