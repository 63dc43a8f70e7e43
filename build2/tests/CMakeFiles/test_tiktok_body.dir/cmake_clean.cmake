file(REMOVE_RECURSE
  "CMakeFiles/test_tiktok_body.dir/unit/test_tiktok_body.c.o"
  "CMakeFiles/test_tiktok_body.dir/unit/test_tiktok_body.c.o.d"
  "test_tiktok_body"
  "test_tiktok_body.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_tiktok_body.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
