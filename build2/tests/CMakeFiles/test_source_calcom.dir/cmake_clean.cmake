file(REMOVE_RECURSE
  "CMakeFiles/test_source_calcom.dir/unit/test_source_calcom.c.o"
  "CMakeFiles/test_source_calcom.dir/unit/test_source_calcom.c.o.d"
  "test_source_calcom"
  "test_source_calcom.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_source_calcom.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
