file(REMOVE_RECURSE
  "CMakeFiles/test_header.dir/unit/test_header.c.o"
  "CMakeFiles/test_header.dir/unit/test_header.c.o.d"
  "test_header"
  "test_header.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_header.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
