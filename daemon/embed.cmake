# Turns a text file into a C string constant: ttr_js / ttr_js_len.
file(READ ${IN} HEX HEX)
string(LENGTH "${HEX}" N)
math(EXPR LEN "${N} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${HEX}")
file(WRITE ${OUT} "#include <stddef.h>\nconst unsigned char ttr_js[] = {${BYTES}0x00};\nconst size_t ttr_js_len = ${LEN};\n")
