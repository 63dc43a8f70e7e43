file(REMOVE_RECURSE
  "CMakeFiles/ttr_fault_shim.dir/integration/fault_shim.c.o"
  "CMakeFiles/ttr_fault_shim.dir/integration/fault_shim.c.o.d"
  "libttr_fault_shim.pdb"
  "libttr_fault_shim.so"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ttr_fault_shim.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
