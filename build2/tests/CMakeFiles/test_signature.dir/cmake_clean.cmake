file(REMOVE_RECURSE
  "CMakeFiles/test_signature.dir/unit/test_signature.c.o"
  "CMakeFiles/test_signature.dir/unit/test_signature.c.o.d"
  "test_signature"
  "test_signature.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_signature.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
