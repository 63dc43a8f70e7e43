CMakeFiles/ttrelayd.dir/dashboard_assets.c.o: \
 /work/main/build2/dashboard_assets.c /usr/include/stdc-predef.h \
 /work/main/daemon/dashboard.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
