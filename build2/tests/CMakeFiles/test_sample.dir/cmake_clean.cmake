file(REMOVE_RECURSE
  "CMakeFiles/test_sample.dir/unit/test_sample.c.o"
  "CMakeFiles/test_sample.dir/unit/test_sample.c.o.d"
  "test_sample"
  "test_sample.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_sample.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
