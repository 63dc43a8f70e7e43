file(REMOVE_RECURSE
  "CMakeFiles/test_collect.dir/unit/test_collect.c.o"
  "CMakeFiles/test_collect.dir/unit/test_collect.c.o.d"
  "test_collect"
  "test_collect.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_collect.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
