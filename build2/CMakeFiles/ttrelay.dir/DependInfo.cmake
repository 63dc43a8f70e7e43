
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/lib/clock.c" "CMakeFiles/ttrelay.dir/lib/clock.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/clock.c.o.d"
  "/work/main/lib/collect.c" "CMakeFiles/ttrelay.dir/lib/collect.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/collect.c.o.d"
  "/work/main/lib/config.c" "CMakeFiles/ttrelay.dir/lib/config.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/config.c.o.d"
  "/work/main/lib/config_keys.c" "CMakeFiles/ttrelay.dir/lib/config_keys.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/config_keys.c.o.d"
  "/work/main/lib/conversion.c" "CMakeFiles/ttrelay.dir/lib/conversion.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/conversion.c.o.d"
  "/work/main/lib/forwarder.c" "CMakeFiles/ttrelay.dir/lib/forwarder.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/forwarder.c.o.d"
  "/work/main/lib/hash.c" "CMakeFiles/ttrelay.dir/lib/hash.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/hash.c.o.d"
  "/work/main/lib/header.c" "CMakeFiles/ttrelay.dir/lib/header.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/header.c.o.d"
  "/work/main/lib/log.c" "CMakeFiles/ttrelay.dir/lib/log.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/log.c.o.d"
  "/work/main/lib/match.c" "CMakeFiles/ttrelay.dir/lib/match.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/match.c.o.d"
  "/work/main/lib/metrics.c" "CMakeFiles/ttrelay.dir/lib/metrics.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/metrics.c.o.d"
  "/work/main/lib/money.c" "CMakeFiles/ttrelay.dir/lib/money.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/money.c.o.d"
  "/work/main/lib/netaddr.c" "CMakeFiles/ttrelay.dir/lib/netaddr.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/netaddr.c.o.d"
  "/work/main/lib/normalize.c" "CMakeFiles/ttrelay.dir/lib/normalize.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/normalize.c.o.d"
  "/work/main/lib/procstat.c" "CMakeFiles/ttrelay.dir/lib/procstat.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/procstat.c.o.d"
  "/work/main/lib/ratelimit.c" "CMakeFiles/ttrelay.dir/lib/ratelimit.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/ratelimit.c.o.d"
  "/work/main/lib/sample.c" "CMakeFiles/ttrelay.dir/lib/sample.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sample.c.o.d"
  "/work/main/lib/setup.c" "CMakeFiles/ttrelay.dir/lib/setup.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/setup.c.o.d"
  "/work/main/lib/signature.c" "CMakeFiles/ttrelay.dir/lib/signature.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/signature.c.o.d"
  "/work/main/lib/sources/calcom.c" "CMakeFiles/ttrelay.dir/lib/sources/calcom.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/calcom.c.o.d"
  "/work/main/lib/sources/calendly.c" "CMakeFiles/ttrelay.dir/lib/sources/calendly.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/calendly.c.o.d"
  "/work/main/lib/sources/generic.c" "CMakeFiles/ttrelay.dir/lib/sources/generic.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/generic.c.o.d"
  "/work/main/lib/sources/shopify.c" "CMakeFiles/ttrelay.dir/lib/sources/shopify.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/shopify.c.o.d"
  "/work/main/lib/sources/source.c" "CMakeFiles/ttrelay.dir/lib/sources/source.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/source.c.o.d"
  "/work/main/lib/sources/source_util.c" "CMakeFiles/ttrelay.dir/lib/sources/source_util.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/source_util.c.o.d"
  "/work/main/lib/sources/stripe.c" "CMakeFiles/ttrelay.dir/lib/sources/stripe.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/stripe.c.o.d"
  "/work/main/lib/sources/woocommerce.c" "CMakeFiles/ttrelay.dir/lib/sources/woocommerce.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/sources/woocommerce.c.o.d"
  "/work/main/lib/store.c" "CMakeFiles/ttrelay.dir/lib/store.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store.c.o.d"
  "/work/main/lib/store_pg.c" "CMakeFiles/ttrelay.dir/lib/store_pg.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_pg.c.o.d"
  "/work/main/lib/store_pg_query.c" "CMakeFiles/ttrelay.dir/lib/store_pg_query.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_pg_query.c.o.d"
  "/work/main/lib/store_pg_send.c" "CMakeFiles/ttrelay.dir/lib/store_pg_send.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_pg_send.c.o.d"
  "/work/main/lib/store_pg_views.c" "CMakeFiles/ttrelay.dir/lib/store_pg_views.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_pg_views.c.o.d"
  "/work/main/lib/store_pg_write.c" "CMakeFiles/ttrelay.dir/lib/store_pg_write.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_pg_write.c.o.d"
  "/work/main/lib/store_query.c" "CMakeFiles/ttrelay.dir/lib/store_query.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_query.c.o.d"
  "/work/main/lib/store_sqlite.c" "CMakeFiles/ttrelay.dir/lib/store_sqlite.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_sqlite.c.o.d"
  "/work/main/lib/store_views.c" "CMakeFiles/ttrelay.dir/lib/store_views.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/store_views.c.o.d"
  "/work/main/lib/tiktok.c" "CMakeFiles/ttrelay.dir/lib/tiktok.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/tiktok.c.o.d"
  "/work/main/lib/timeparse.c" "CMakeFiles/ttrelay.dir/lib/timeparse.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/timeparse.c.o.d"
  "/work/main/lib/utf8.c" "CMakeFiles/ttrelay.dir/lib/utf8.c.o" "gcc" "CMakeFiles/ttrelay.dir/lib/utf8.c.o.d"
  "/work/main/lib/phone.cc" "CMakeFiles/ttrelay.dir/lib/phone.cc.o" "gcc" "CMakeFiles/ttrelay.dir/lib/phone.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
