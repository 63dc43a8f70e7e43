file(REMOVE_RECURSE
  "CMakeFiles/test_source_shopify.dir/unit/test_source_shopify.c.o"
  "CMakeFiles/test_source_shopify.dir/unit/test_source_shopify.c.o.d"
  "test_source_shopify"
  "test_source_shopify.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_source_shopify.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
