# Turns a text file into a C string constant: <NAME>[] (NUL-terminated) and <NAME>_len.
file(READ ${IN} HEX HEX)
string(LENGTH "${HEX}" N)
math(EXPR LEN "${N} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${HEX}")
file(WRITE ${OUT} "#include <stddef.h>\nconst unsigned char ${NAME}[] = {${BYTES}0x00};\nconst size_t ${NAME}_len = ${LEN};\n")
