# Empty compiler generated dependencies file for test_header.
# This may be replaced when dependencies are built.
