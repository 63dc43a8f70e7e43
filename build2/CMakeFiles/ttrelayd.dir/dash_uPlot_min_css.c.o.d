CMakeFiles/ttrelayd.dir/dash_uPlot_min_css.c.o: \
 /work/main/build2/dash_uPlot_min_css.c /usr/include/stdc-predef.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
