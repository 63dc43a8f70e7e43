# CMake generated Testfile for 
# Source directory: /work/main/tests/pg
# Build directory: /work/main/build2/tests/pg
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(pg/server_start "sh" "/work/main/tests/pg/pg_server.sh" "start" "/work/main/build2/pg-server")
set_tests_properties(pg/server_start PROPERTIES  FIXTURES_SETUP "pg" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/pg/CMakeLists.txt;9;add_test;/work/main/tests/pg/CMakeLists.txt;0;")
add_test(pg/server_stop "sh" "/work/main/tests/pg/pg_server.sh" "stop" "/work/main/build2/pg-server")
set_tests_properties(pg/server_stop PROPERTIES  FIXTURES_CLEANUP "pg" TIMEOUT "60" _BACKTRACE_TRIPLES "/work/main/tests/pg/CMakeLists.txt;11;add_test;/work/main/tests/pg/CMakeLists.txt;0;")
add_test(pg/test_store_pg "/work/main/build2/tests/pg/test_store_pg")
set_tests_properties(pg/test_store_pg PROPERTIES  ENVIRONMENT "TTR_PG_CONNINFO_FILE=/work/main/build2/pg-server/conninfo;TTR_PG_SERVER=/work/main/tests/pg/pg_server.sh;TTR_PG_DIR=/work/main/build2/pg-server" FIXTURES_REQUIRED "pg" SKIP_RETURN_CODE "77" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/main/tests/pg/CMakeLists.txt;17;add_test;/work/main/tests/pg/CMakeLists.txt;0;")
