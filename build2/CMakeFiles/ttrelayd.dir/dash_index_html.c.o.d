CMakeFiles/ttrelayd.dir/dash_index_html.c.o: \
 /work/main/build2/dash_index_html.c /usr/include/stdc-predef.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
