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
