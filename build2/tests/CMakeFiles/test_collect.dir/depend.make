# Empty dependencies file for test_collect.
# This may be replaced when dependencies are built.
