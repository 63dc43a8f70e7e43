CMakeFiles/ttrelay.dir/lib/timeparse.c.o: /work/main/lib/timeparse.c \
 /usr/include/stdc-predef.h /work/main/lib/timeparse.h \
 /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h
