# Empty compiler generated dependencies file for ttr_fault_shim.
# This may be replaced when dependencies are built.
