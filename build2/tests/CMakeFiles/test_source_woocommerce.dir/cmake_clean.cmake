file(REMOVE_RECURSE
  "CMakeFiles/test_source_woocommerce.dir/unit/test_source_woocommerce.c.o"
  "CMakeFiles/test_source_woocommerce.dir/unit/test_source_woocommerce.c.o.d"
  "test_source_woocommerce"
  "test_source_woocommerce.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_source_woocommerce.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
