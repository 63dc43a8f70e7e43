file(REMOVE_RECURSE
  "CMakeFiles/ingest_cost.dir/ingest_cost.c.o"
  "CMakeFiles/ingest_cost.dir/ingest_cost.c.o.d"
  "ingest_cost"
  "ingest_cost.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ingest_cost.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
