file(REMOVE_RECURSE
  "CMakeFiles/match_bench.dir/match_bench.c.o"
  "CMakeFiles/match_bench.dir/match_bench.c.o.d"
  "match_bench"
  "match_bench.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/match_bench.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
