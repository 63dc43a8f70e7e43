file(REMOVE_RECURSE
  "CMakeFiles/test_timeparse.dir/unit/test_timeparse.c.o"
  "CMakeFiles/test_timeparse.dir/unit/test_timeparse.c.o.d"
  "test_timeparse"
  "test_timeparse.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_timeparse.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
