file(REMOVE_RECURSE
  "CMakeFiles/test_hash.dir/unit/test_hash.c.o"
  "CMakeFiles/test_hash.dir/unit/test_hash.c.o.d"
  "test_hash"
  "test_hash.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_hash.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
