file(REMOVE_RECURSE
  "CMakeFiles/test_money.dir/unit/test_money.c.o"
  "CMakeFiles/test_money.dir/unit/test_money.c.o.d"
  "test_money"
  "test_money.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_money.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
