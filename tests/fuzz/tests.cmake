# Fuzz targets for the parsers of untrusted bytes (sync/codec.c,
# sync/envelope.c) and for the head-office request handler (server-stub/hq/).  In
# every build the checked-in corpus is replayed through each target as an
# ordinary test (replay.c provides main()); with -DFS_FUZZ=ON
# (clang) the real libFuzzer programs fuzz_codec, fuzz_envelope and fuzz_hq
# are built too:  build-fuzz/tests/fuzz_codec -max_total_time=600 <a copy of
# the corpus>.  fuzz_hq creates its server home under $TMPDIR.
set(FS_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(FS_FUZZ_INCLUDES ${FS_FUZZ_DIR} ${PROJECT_SOURCE_DIR}/tests/sync
    ${PROJECT_SOURCE_DIR}/bench)

foreach(target codec envelope hq)
  add_executable(fuzz_replay_${target} ${FS_FUZZ_DIR}/replay.c
                 ${FS_FUZZ_DIR}/fuzz_${target}.c)
  target_include_directories(fuzz_replay_${target} PRIVATE ${FS_FUZZ_INCLUDES})
  target_compile_options(fuzz_replay_${target} PRIVATE ${FS_WARNINGS})
  target_link_libraries(fuzz_replay_${target} PRIVATE fieldsync_hq)
  add_test(NAME fuzz_replay_${target}
           COMMAND fuzz_replay_${target} ${FS_FUZZ_DIR}/corpus/${target})

  if(FS_FUZZ)
    add_executable(fuzz_${target} ${FS_FUZZ_DIR}/fuzz_${target}.c)
    target_include_directories(fuzz_${target} PRIVATE ${FS_FUZZ_INCLUDES})
    target_compile_options(fuzz_${target} PRIVATE ${FS_WARNINGS})
    target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${target} PRIVATE fieldsync_hq)
  endif()
endforeach()

# The seed generator (not a test): gen_corpus ENVELOPE_DIR CODEC_DIR [HQ_DIR].
add_executable(fuzz_gen_corpus ${FS_FUZZ_DIR}/gen_corpus.c
               ${PROJECT_SOURCE_DIR}/bench/workload.c)
target_include_directories(fuzz_gen_corpus PRIVATE ${FS_FUZZ_INCLUDES})
target_compile_options(fuzz_gen_corpus PRIVATE ${FS_WARNINGS})
target_link_libraries(fuzz_gen_corpus PRIVATE fieldsync_hq)
