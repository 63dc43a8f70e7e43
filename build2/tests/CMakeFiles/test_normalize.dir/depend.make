# Empty dependencies file for test_normalize.
# This may be replaced when dependencies are built.
