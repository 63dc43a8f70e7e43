CMakeFiles/ttrelayd.dir/dash_uPlot_iife_min_js.c.o: \
 /work/main/build2/dash_uPlot_iife_min_js.c /usr/include/stdc-predef.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
