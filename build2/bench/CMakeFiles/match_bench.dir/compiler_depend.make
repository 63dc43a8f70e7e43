# Empty compiler generated dependencies file for match_bench.
# This may be replaced when dependencies are built.
