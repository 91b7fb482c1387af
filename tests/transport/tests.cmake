# Transport: the device's libcurl client (sync/http_client.c, in the library)
# against the server's HTTPS front end and certificate generator, which live
# in server-stub/ and are compiled into the test directly.
fs_test(test_transport ${CMAKE_CURRENT_LIST_DIR}/test_transport.c)
target_sources(test_transport PRIVATE
  ${PROJECT_SOURCE_DIR}/server-stub/https.c
  ${PROJECT_SOURCE_DIR}/server-stub/tlsgen.c)
target_include_directories(test_transport PRIVATE ${PROJECT_SOURCE_DIR}/server-stub)
target_link_libraries(test_transport PRIVATE PkgConfig::MHD PkgConfig::GNUTLS
  Threads::Threads)
set_tests_properties(test_transport PROPERTIES TIMEOUT 120)

# The device's push and pull protocol against head office's real handler on
# the real front end, in process, with a man in the middle rewriting acks
# and (FS_TEST_HOOKS builds) deterministic fault points.
fs_test(test_acks ${CMAKE_CURRENT_LIST_DIR}/test_acks.c)
target_sources(test_acks PRIVATE
  ${PROJECT_SOURCE_DIR}/server-stub/https.c
  ${PROJECT_SOURCE_DIR}/server-stub/hq_http.c
  ${PROJECT_SOURCE_DIR}/server-stub/tlsgen.c)
target_include_directories(test_acks PRIVATE ${PROJECT_SOURCE_DIR}/server-stub)
target_link_libraries(test_acks PRIVATE PkgConfig::MHD PkgConfig::GNUTLS Threads::Threads)
set_tests_properties(test_acks PROPERTIES TIMEOUT 120)
