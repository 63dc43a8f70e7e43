file(REMOVE_RECURSE
  "CMakeFiles/test_source_generic.dir/unit/test_source_generic.c.o"
  "CMakeFiles/test_source_generic.dir/unit/test_source_generic.c.o.d"
  "test_source_generic"
  "test_source_generic.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_source_generic.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
