file(REMOVE_RECURSE
  "CMakeFiles/test_source_calendly.dir/unit/test_source_calendly.c.o"
  "CMakeFiles/test_source_calendly.dir/unit/test_source_calendly.c.o.d"
  "test_source_calendly"
  "test_source_calendly.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_source_calendly.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
