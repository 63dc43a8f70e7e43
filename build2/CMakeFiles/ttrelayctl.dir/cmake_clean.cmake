file(REMOVE_RECURSE
  "CMakeFiles/ttrelayctl.dir/daemon/ttrelayctl.c.o"
  "CMakeFiles/ttrelayctl.dir/daemon/ttrelayctl.c.o.d"
  "ttrelayctl"
  "ttrelayctl.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ttrelayctl.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
