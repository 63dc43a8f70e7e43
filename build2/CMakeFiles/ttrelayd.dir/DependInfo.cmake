
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/daemon/admin.c" "CMakeFiles/ttrelayd.dir/daemon/admin.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/admin.c.o.d"
  "/work/main/daemon/dashboard.c" "CMakeFiles/ttrelayd.dir/daemon/dashboard.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/dashboard.c.o.d"
  "/work/main/daemon/dashboard_api.c" "CMakeFiles/ttrelayd.dir/daemon/dashboard_api.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/dashboard_api.c.o.d"
  "/work/main/daemon/http.c" "CMakeFiles/ttrelayd.dir/daemon/http.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/http.c.o.d"
  "/work/main/daemon/ingest.c" "CMakeFiles/ttrelayd.dir/daemon/ingest.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/ingest.c.o.d"
  "/work/main/daemon/main.c" "CMakeFiles/ttrelayd.dir/daemon/main.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/main.c.o.d"
  "/work/main/daemon/notify.c" "CMakeFiles/ttrelayd.dir/daemon/notify.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/notify.c.o.d"
  "/work/main/daemon/snippet.c" "CMakeFiles/ttrelayd.dir/daemon/snippet.c.o" "gcc" "CMakeFiles/ttrelayd.dir/daemon/snippet.c.o.d"
  "/work/main/build2/dash_app_css.c" "CMakeFiles/ttrelayd.dir/dash_app_css.c.o" "gcc" "CMakeFiles/ttrelayd.dir/dash_app_css.c.o.d"
  "/work/main/build2/dash_app_js.c" "CMakeFiles/ttrelayd.dir/dash_app_js.c.o" "gcc" "CMakeFiles/ttrelayd.dir/dash_app_js.c.o.d"
  "/work/main/build2/dash_index_html.c" "CMakeFiles/ttrelayd.dir/dash_index_html.c.o" "gcc" "CMakeFiles/ttrelayd.dir/dash_index_html.c.o.d"
  "/work/main/build2/dash_uPlot_iife_min_js.c" "CMakeFiles/ttrelayd.dir/dash_uPlot_iife_min_js.c.o" "gcc" "CMakeFiles/ttrelayd.dir/dash_uPlot_iife_min_js.c.o.d"
  "/work/main/build2/dash_uPlot_min_css.c" "CMakeFiles/ttrelayd.dir/dash_uPlot_min_css.c.o" "gcc" "CMakeFiles/ttrelayd.dir/dash_uPlot_min_css.c.o.d"
  "/work/main/build2/dashboard_assets.c" "CMakeFiles/ttrelayd.dir/dashboard_assets.c.o" "gcc" "CMakeFiles/ttrelayd.dir/dashboard_assets.c.o.d"
  "/work/main/build2/ttr_js.c" "CMakeFiles/ttrelayd.dir/ttr_js.c.o" "gcc" "CMakeFiles/ttrelayd.dir/ttr_js.c.o.d"
  "/work/main/build2/ttr_shopify_js.c" "CMakeFiles/ttrelayd.dir/ttr_shopify_js.c.o" "gcc" "CMakeFiles/ttrelayd.dir/ttr_shopify_js.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build2/CMakeFiles/ttrelay.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
