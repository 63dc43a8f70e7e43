# Empty dependencies file for test_source_generic.
# This may be replaced when dependencies are built.
