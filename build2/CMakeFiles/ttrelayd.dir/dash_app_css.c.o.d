CMakeFiles/ttrelayd.dir/dash_app_css.c.o: \
 /work/main/build2/dash_app_css.c /usr/include/stdc-predef.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
