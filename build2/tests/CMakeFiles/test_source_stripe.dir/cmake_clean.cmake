file(REMOVE_RECURSE
  "CMakeFiles/test_source_stripe.dir/unit/test_source_stripe.c.o"
  "CMakeFiles/test_source_stripe.dir/unit/test_source_stripe.c.o.d"
  "test_source_stripe"
  "test_source_stripe.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_source_stripe.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
